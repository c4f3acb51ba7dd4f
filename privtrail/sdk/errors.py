"""Errors the SDK raises on purpose. All derive from :class:`privtrail.errors.PrivtrailError`."""

from __future__ import annotations

from privtrail.errors import PrivtrailError


class SdkError(PrivtrailError):
    """Root of the SDK's own errors (contract violations raise ``ContractError``)."""


class SdkConfigError(SdkError, ValueError):
    """A setting is missing or invalid; ``setting`` names the argument or env variable."""

    def __init__(self, setting: str, message: str) -> None:
        self.setting = setting
        self.reason = message
        super().__init__(f"{setting}: {message}")


class UnknownTermError(SdkError, ValueError):
    """The event uses terms that are not in the policy's vocabulary.

    ``terms`` lists them as ``field:term`` strings, as the policy reports them
    (e.g. ``["items:shoe_size"]``); ``event_type`` is the event's type.
    """

    def __init__(self, event_type: str, terms: list[str]) -> None:
        self.event_type = event_type
        self.terms = list(terms)
        super().__init__(f"{event_type}: not in the policy vocabulary: {', '.join(self.terms)}")


class SpoolFullError(SdkError, RuntimeError):
    """The local spool reached its size limit; the event was NOT recorded.

    Raised to the caller instead of dropping the event silently. ``spool_bytes`` is the
    spool's current size and ``max_bytes`` its limit.
    """

    def __init__(self, spool_bytes: int, max_bytes: int, record_bytes: int) -> None:
        self.spool_bytes = spool_bytes
        self.max_bytes = max_bytes
        self.record_bytes = record_bytes
        super().__init__(
            f"spool full ({spool_bytes} of {max_bytes} bytes, record needs {record_bytes}); "
            "the broker has been unreachable too long or PRIVTRAIL_SPOOL_MAX_BYTES is too small"
        )


class SpoolLockedError(SdkError, RuntimeError):
    """Another live process holds the spool directory; each process needs its own."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"spool directory {path} is locked by another process; "
            "give each process its own PRIVTRAIL_SPOOL_DIR (or a distinct instance)"
        )


class SpoolCorruptError(SdkError, RuntimeError):
    """A spool file is not a spool segment at all (wrong magic); it is left untouched."""


class ClientClosedError(SdkError, RuntimeError):
    """The client was closed; no more events can be emitted through it."""
