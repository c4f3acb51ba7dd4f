"""The tamper-evidence errors: one for untrusted input that fails, one for bad key strings."""

from __future__ import annotations

from privtrail.errors import PrivtrailError


class VerificationError(PrivtrailError, ValueError):
    """A proof, checkpoint, signed note or proof bundle does not verify or is malformed.

    Everything a verifier reads comes from the party being audited, so a malformed input is a
    verification failure like any other; the message names the exact check that failed.
    """


class KeyFormatError(PrivtrailError, ValueError):
    """A signer or verifier key string is not in the ``golang.org/x/mod/sumdb/note`` format."""
