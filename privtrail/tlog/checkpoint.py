"""C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): a signed tree head as note text.

    <origin>\\n<tree size, decimal>\\n<base64 root hash>\\n[<extension line>\\n ...]

privtrail keeps one log per Kafka partition, with origins such as
``privtrail.example/<log-name>/<topic>/<partition>``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from privtrail.tlog.errors import VerificationError
from privtrail.tlog.merkle import HASH_SIZE
from privtrail.tlog.note import NoteSigner, NoteVerifier, open_note, sign_note


def _check_line(value: str, what: str) -> None:
    if not value:
        raise VerificationError(f"checkpoint {what} must not be empty")
    if any(c < " " for c in value):
        raise VerificationError(f"checkpoint {what} must be one line without control characters")


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement "my tree of ``size`` leaves has root ``root_hash``"."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise VerificationError(f"checkpoint tree size must be an integer >= 0: {self.size!r}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise VerificationError(f"checkpoint root hash must be {HASH_SIZE} bytes")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for ext in self.extensions:
            _check_line(ext, "extension line")

    def to_body(self) -> bytes:
        """The note text (what gets signed)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "".join(line + "\n" for line in (*lines, *self.extensions)).encode()

    @classmethod
    def parse(cls, body: bytes | str) -> Checkpoint:
        """Parse note text (already verified with :func:`open_note`) into a checkpoint."""
        try:
            text = body.decode() if isinstance(body, bytes) else body
        except UnicodeDecodeError as exc:
            raise VerificationError("malformed checkpoint: not valid UTF-8") from exc
        if not text.endswith("\n"):
            raise VerificationError("malformed checkpoint: text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise VerificationError(
                f"malformed checkpoint: needs origin, size and root lines, got {len(lines)} line(s)"
            )
        origin, size_text, root_text, *extensions = lines
        # Decimal ASCII with no sign and no leading zero: exactly one text per size.
        if not (size_text.isascii() and size_text.isdigit()) or (
            len(size_text) > 1 and size_text[0] == "0"
        ):
            raise VerificationError(f"malformed checkpoint: tree size {size_text!r} is not decimal")
        try:
            root = base64.b64decode(root_text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise VerificationError("malformed checkpoint: root hash is not base64") from exc
        if len(root) != HASH_SIZE:
            raise VerificationError(
                f"malformed checkpoint: root hash is {len(root)} bytes, expected {HASH_SIZE}"
            )
        try:
            return cls(origin, int(size_text), root, tuple(extensions))
        except VerificationError as exc:
            raise VerificationError(f"malformed checkpoint: {exc}") from exc


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> bytes:
    """The checkpoint as a signed note, ready to store or hand to a witness."""
    return sign_note(checkpoint.to_body(), signer)


def open_checkpoint(
    note: bytes, verifiers: Sequence[NoteVerifier], *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint and parse it; ``origin``, if given, must match."""
    checkpoint = Checkpoint.parse(open_note(note, verifiers))
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(
            f"checkpoint is for log {checkpoint.origin!r}, not the expected {origin!r}"
        )
    return checkpoint
