"""The package's exceptions: one root, structured fields, no printing."""

from __future__ import annotations


class PrivtrailError(Exception):
    """Root of every error privtrail raises on purpose."""


class ContractError(PrivtrailError, ValueError):
    """An event breaks the event contract.

    ``field`` is the dotted path of the offending field (``actor.kind``, ``items[1]``),
    or ``""`` when the event as a whole is wrong (not an object, unknown ``type``).
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)


class PolicyError(PrivtrailError, ValueError):
    """A policy file is invalid; ``line`` points into the YAML when known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{message}")


class WireError(PrivtrailError, ValueError):
    """Bytes on the wire cannot be decoded (bad magic, unknown fingerprint, corrupt body)."""


class StackError(PrivtrailError, RuntimeError):
    """The local stack cannot start or stop; the message says what to do."""
