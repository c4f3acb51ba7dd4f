"""Keyed pseudonyms for data subjects: the audit log never holds a raw identifier.

``subject_id = "ps_" + letters(HMAC-SHA-256(key, subject)[:20])``: 160 bits, so collisions
are not a concern. ``letters`` is hex written with the digits ``a``-``p`` instead of
``0-9a-f`` (40 characters): the contract refuses any value with a run of 8+ digits as a
possible phone number, and plain hex or base32 would make some pseudonyms look like one.

Without the key a pseudonym cannot be linked back to a subject (no dictionary attack on
customer numbers); an investigator who holds the key recomputes it with
``privtrail pseudonym``. The key id travels in every event
(``subject_key_id``) so a key can be rotated without mixing pseudonym spaces.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass

from privtrail.errors import ContractError
from privtrail.sdk.errors import SdkConfigError

PREFIX = "ps_"
DIGEST_BYTES = 20
MIN_KEY_BYTES = 16
DEV_KEY_ID = "dev-insecure"
# A published key: pseudonyms made with it are NOT secret. Only for dev mode, and marked
# by DEV_KEY_ID in every event so such events are recognisable later.
DEV_KEY = b"privtrail-dev-mode-key-not-secret"

_HEX_TO_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")

_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def letters(data: bytes) -> str:
    """``data`` as hex over the letters ``a``-``p`` (no digits); order-preserving."""
    return data.hex().translate(_HEX_TO_LETTERS)


def parse_key(text: str, *, setting: str = "PRIVTRAIL_PSEUDONYM_KEY") -> bytes:
    """Decode a key given as ``hex:...``, ``base64:...``, or bare hex / base64.

    Bare text that is valid hex is read as hex (a 32-byte key is 64 hex digits); anything
    else must be base64. Keys shorter than 16 bytes are refused.
    """
    raw = text.strip()
    if not raw:
        raise SdkConfigError(setting, "empty key")
    try:
        if raw.startswith("hex:"):
            key = bytes.fromhex(raw[4:])
        elif raw.startswith("base64:"):
            key = base64.b64decode(raw[7:], validate=True)
        elif _HEX.match(raw):
            key = bytes.fromhex(raw)
        else:
            key = base64.b64decode(raw, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise SdkConfigError(setting, "not valid hex or base64") from exc
    if len(key) < MIN_KEY_BYTES:
        raise SdkConfigError(
            setting, f"key is {len(key)} bytes; at least {MIN_KEY_BYTES} are required"
        )
    return key


@dataclass(frozen=True, slots=True)
class Pseudonym:
    """A subject pseudonym and the id of the key that made it.

    Pass one instead of a raw identifier when the service already stores pseudonyms.
    """

    value: str
    key_id: str

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, repr=False)
class Pseudonymiser:
    """Turns subject identifiers into pseudonyms with one key. ``repr`` hides the key."""

    key: bytes
    key_id: str

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise SdkConfigError("pseudonym_key", f"at least {MIN_KEY_BYTES} bytes required")
        if not _KEY_ID.match(self.key_id):
            raise SdkConfigError(
                "pseudonym_key_id", "1-64 characters of letters, digits, '_', '.', '-'"
            )

    def __repr__(self) -> str:
        return f"Pseudonymiser(key_id={self.key_id!r}, key=<hidden>)"

    @classmethod
    def dev(cls) -> Pseudonymiser:
        """The insecure development pseudonymiser (published key, key id ``dev-insecure``)."""
        return cls(key=DEV_KEY, key_id=DEV_KEY_ID)

    @property
    def is_dev(self) -> bool:
        return self.key_id == DEV_KEY_ID

    def pseudonym(self, subject: str) -> str:
        """The pseudonym of ``subject`` (deterministic for one key)."""
        if not isinstance(subject, str) or not subject:
            raise ContractError("subject_id", "a subject identifier must be a non-empty string")
        # hmac.digest: OpenSSL's one-shot HMAC, the same bytes as hmac.new(...).digest()
        # without building an HMAC object (a third of this method's cost).
        digest = hmac.digest(self.key, subject.encode("utf-8"), "sha256")
        return PREFIX + letters(digest[:DIGEST_BYTES])

    def pseudonymise(self, subject: str) -> Pseudonym:
        return Pseudonym(self.pseudonym(subject), self.key_id)
