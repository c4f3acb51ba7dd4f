"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.

Key strings use the ``golang.org/x/mod/sumdb/note`` encoding, so keys made here work with Go's
note package and transparency-log witnesses, and the other way round:

* verifier key: ``<name>+<key id, 8 hex digits>+<base64(0x01 || 32-byte public key)>``
* signer key:   ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte private seed)>``

key id = the first 4 bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from privtrail.tlog.errors import KeyFormatError, VerificationError

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100
"""Go's note package rejects notes with more signature lines; C2SP asks for at least 16."""
_DASH = "\u2014 "  # em dash and space open every signature line


def valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode space and no ``+`` (``+`` separates the parts of a key string)."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: bytes) -> int:
    """The 32-bit key id of an Ed25519 key named ``name``."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise KeyFormatError(f"{what}: not standard base64") from exc


def _public_bytes(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _parse_key_parts(name: str, hex_id: str, b64: str, kind: str) -> tuple[int, bytes]:
    if not valid_key_name(name):
        raise KeyFormatError(f"{kind} key: invalid key name {name!r} (empty, space or '+')")
    if len(hex_id) != 8 or any(c not in "0123456789abcdefABCDEF" for c in hex_id):
        raise KeyFormatError(f"{kind} key: key id must be 8 hex digits, got {hex_id!r}")
    raw = _b64decode(b64, f"{kind} key")
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise KeyFormatError(
            f"{kind} key: expected 0x01 (Ed25519) and 32 key bytes, got {len(raw)} bytes"
            + (f" starting with 0x{raw[0]:02x}" if raw else "")
        )
    return int(hex_id, 16), raw[1:]


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted public key: checks signatures made by the matching :class:`NoteSigner`."""

    name: str
    key_id: int
    public_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not valid_key_name(self.name):
            raise KeyFormatError(f"invalid key name {self.name!r} (empty, space or '+')")
        if len(self.public_key) != 32:
            raise KeyFormatError(f"Ed25519 public key must be 32 bytes, got {len(self.public_key)}")
        if key_id(self.name, self.public_key) != self.key_id:
            raise KeyFormatError(
                f"key id {self.key_id:08x} does not match key {self.name!r} "
                f"(expected {key_id(self.name, self.public_key):08x})"
            )

    @classmethod
    def from_key_string(cls, text: str) -> NoteVerifier:
        """Parse ``<name>+<hex id>+<base64(0x01 || public key)>``."""
        parts = text.strip().split("+", 2)  # base64 may itself contain "+"
        if len(parts) != 3:
            raise KeyFormatError("verifier key must look like <name>+<8 hex digits>+<base64>")
        kid, pub = _parse_key_parts(parts[0], parts[1], parts[2], "verifier")
        return cls(parts[0], kid, pub)

    def key_string(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` (without the 4-byte key id) signs ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    """A private Ed25519 key with its name; keep the key string out of code and logs."""

    name: str
    key_id: int
    _private: Ed25519PrivateKey = field(repr=False, compare=False)

    @classmethod
    def from_key_string(cls, text: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || 32-byte seed)>``."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise KeyFormatError(
                "signer key must look like PRIVATE+KEY+<name>+<8 hex digits>+<base64>"
            )
        kid, seed = _parse_key_parts(parts[2], parts[3], parts[4], "signer")
        private = Ed25519PrivateKey.from_private_bytes(seed)
        if key_id(parts[2], _public_bytes(private.public_key())) != kid:
            raise KeyFormatError(f"signer key: key id {kid:08x} does not match the key")
        return cls(parts[2], kid, private)

    @classmethod
    def generate(cls, name: str) -> tuple[str, str]:
        """A fresh key pair as ``(signer key string, verifier key string)``."""
        if not valid_key_name(name):
            raise KeyFormatError(f"invalid key name {name!r} (empty, space or '+')")
        private = Ed25519PrivateKey.generate()
        seed = private.private_bytes_raw()
        kid = key_id(name, _public_bytes(private.public_key()))
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        signer = f"PRIVATE+KEY+{name}+{kid:08x}+{encoded}"
        return signer, cls.from_key_string(signer).verifier().key_string()

    def verifier(self) -> NoteVerifier:
        """The public half, to hand to whoever verifies."""
        return NoteVerifier(self.name, self.key_id, _public_bytes(self._private.public_key()))

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def _check_text(text: str, what: str) -> None:
    bad = next((c for c in text if c < " " and c != "\n"), None)
    if bad is not None:
        raise VerificationError(f"{what}: control character 0x{ord(bad):02x} is not allowed")


def sign_note(body: bytes | str, signer: NoteSigner) -> bytes:
    """The signed note: ``body``, a blank line, and one signature line by ``signer``."""
    try:
        text = body.decode() if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise VerificationError(f"note text must be UTF-8 ({exc.reason})") from exc
    if not text.endswith("\n"):
        raise VerificationError("note text must end with a newline")
    _check_text(text, "note text")
    sig = signer.key_id.to_bytes(4, "big") + signer.sign(text.encode())
    line = f"{_DASH}{signer.name} {base64.b64encode(sig).decode()}\n"
    return (text + "\n" + line).encode()


@dataclass(frozen=True)
class _SigLine:
    name: str
    key_id: int
    signature: bytes


def _split_note(note: bytes) -> tuple[str, list[_SigLine]]:
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError(f"malformed note: not valid UTF-8 ({exc.reason})") from exc
    _check_text(text, "malformed note")
    cut = text.rfind("\n\n")
    if cut < 0:
        raise VerificationError("malformed note: no blank line between text and signatures")
    body, sig_block = text[: cut + 1], text[cut + 2 :]
    if not sig_block.endswith("\n"):
        raise VerificationError("malformed note: signature block must end with a newline")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerificationError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    sigs = []
    for n, line in enumerate(lines, 1):
        if not line.startswith(_DASH):
            raise VerificationError(
                f"malformed note: signature line {n} does not start with an em dash and a space"
            )
        name, sep, b64 = line[len(_DASH) :].partition(" ")
        if not sep or not valid_key_name(name) or " " in b64:
            raise VerificationError(
                f"malformed note: signature line {n} is not '\u2014 <key name> <base64>'"
            )
        try:
            raw = base64.b64decode(b64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise VerificationError(f"malformed note: signature line {n} is not base64") from exc
        if len(raw) < 5:
            raise VerificationError(f"malformed note: signature line {n} is too short")
        sigs.append(_SigLine(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return body, sigs


def open_note(note: bytes, verifiers: Sequence[NoteVerifier]) -> bytes:
    """Verify ``note`` and return its text (with its final newline), or raise.

    As C2SP requires: signatures from unknown keys are ignored, a known key's bad signature
    rejects the note, and at least one known key must have signed.
    """
    known: dict[tuple[str, int], NoteVerifier] = {}
    for v in verifiers:
        if (v.name, v.key_id) in known and known[(v.name, v.key_id)] != v:
            raise VerificationError(f"ambiguous key {v.name}+{v.key_id:08x}: two public keys")
        known[(v.name, v.key_id)] = v
    body, sigs = _split_note(note)
    message = body.encode()
    verified = 0
    for sig in sigs:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(message, sig.signature):
            raise VerificationError(f"invalid signature for key {sig.name}+{sig.key_id:08x}")
        verified += 1
    if not verified:
        found = ", ".join(f"{s.name}+{s.key_id:08x}" for s in sigs)
        trusted = ", ".join(f"{n}+{k:08x}" for n, k in known) or "none"
        raise VerificationError(
            f"note has no signature from a trusted key (signed by {found}; trusted: {trusted})"
        )
    return message
