#!/usr/bin/env python3
"""Verify a privtrail proof offline: one file, no privtrail, no network.

    python3 privtrail_verify_proof.py BUNDLE.json [--key KEY | --key-file FILE] [--origin ORIGIN]
    python3 privtrail_verify_proof.py --consistency OLD.note NEW.note PROOF.json --key KEY

A proof bundle (made by ``privtrail prove EVENT_ID``) holds one audit event, its RFC 6962 Merkle
inclusion proof, and the log's signed checkpoint (C2SP tlog-checkpoint in a C2SP signed-note,
Ed25519). This script recomputes the event's leaf hash from its canonical JSON bytes, walks the
proof up to the root, checks that root, size and origin against the checkpoint, and checks the
checkpoint's signature. It prints ``OK: ...`` and exits 0, or prints ``FAILED: <the exact
check>`` and exits 1 (2 for usage errors).

Pass the log's verifier key with ``--key`` as obtained from the log operator through a channel
you trust. Without it the key inside the bundle is used, which shows only that the bundle is
self-consistent, not that the log operator signed it.

Requirements: Python 3.8+ standard library, plus the ``cryptography`` package for Ed25519
(``pip install cryptography``); nothing else. The format is described in privtrail's
docs/tamper-evidence.md. This file deliberately shares no code with privtrail: it is a second,
independent implementation of the same public specifications (RFC 9162 sections 2.1.3.2 and
2.1.4.2, c2sp.org/tlog-checkpoint, c2sp.org/signed-note).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Sequence
from typing import Any

BUNDLE_VERSION = 1
HASH_SIZE = 32
ALG_ED25519 = 1
MAX_SIGNATURES = 100
DASH = "\u2014 "


class Failure(Exception):
    """A check failed; the message says which one."""


# --- RFC 6962 hashing and RFC 9162 verification ------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _popcount(x: int) -> int:
    return bin(x).count("1")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    if index < 0 or size < 0:
        raise Failure("leaf index and tree size must be non-negative")
    if index >= size:
        raise Failure(f"leaf index {index} is not less than tree size {size}")
    inner = (index ^ (size - 1)).bit_length()
    want = inner + _popcount(index >> inner)
    if len(proof) != want:
        raise Failure(
            f"inclusion proof has {len(proof)} hashes, expected {want} "
            f"for leaf {index} in a tree of size {size}"
        )
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if r != root:
        raise Failure(
            f"inclusion proof for leaf {index} leads to root {r.hex()}, "
            f"not the checkpoint's root {root.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    if old_size < 0 or new_size < 0:
        raise Failure("tree sizes must be non-negative")
    if old_size > new_size:
        raise Failure(f"old tree size {old_size} is greater than new tree size {new_size}")
    if old_size == new_size:
        if proof:
            raise Failure("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise Failure(f"both checkpoints have size {old_size} but their roots differ")
        return
    if old_size == 0:
        if proof:
            raise Failure("consistency proof from an empty tree must be empty")
        return
    level = (old_size & -old_size).bit_length() - 1
    index = (old_size - 1) >> level
    inner = (index ^ ((new_size - 1) >> level)).bit_length()
    want = (0 if index == 0 else 1) + inner + _popcount(index >> inner)
    if len(proof) != want:
        raise Failure(
            f"consistency proof has {len(proof)} hashes, expected {want} "
            f"between sizes {old_size} and {new_size}"
        )
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if fr != old_root:
        raise Failure("consistency proof does not lead to the old checkpoint's root")
    if sr != new_root:
        raise Failure("consistency proof does not lead to the new checkpoint's root")


# --- C2SP signed-note and tlog-checkpoint --------------------------------------------------------


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise Failure(f"{what} is not standard base64") from None


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def parse_verifier_key(text: str) -> tuple[str, int, bytes]:
    """``<name>+<8 hex digits>+<base64(0x01 || 32-byte Ed25519 public key)>``."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not _valid_name(parts[0]):
        raise Failure("verifier key must look like <name>+<8 hex digits>+<base64>")
    name, hex_id, b64 = parts
    if len(hex_id) != 8 or any(c not in "0123456789abcdefABCDEF" for c in hex_id):
        raise Failure("verifier key id must be 8 hex digits")
    raw = _b64(b64, "verifier key")
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise Failure("verifier key is not an Ed25519 key (0x01 and 32 bytes)")
    digest = hashlib.sha256(name.encode() + b"\n" + raw).digest()
    if int(hex_id, 16) != int.from_bytes(digest[:4], "big"):
        raise Failure("verifier key id does not match the key")
    return name, int(hex_id, 16), raw[1:]


def _ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        raise Failure(
            "no Ed25519 verifier available: install the 'cryptography' package "
            "(pip install cryptography)"
        ) from None
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def open_note(note: bytes, key: tuple[str, int, bytes]) -> str:
    """Check the note's signature by ``key`` and return the note text."""
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError:
        raise Failure("malformed checkpoint note: not valid UTF-8") from None
    if any(c < " " and c != "\n" for c in text):
        raise Failure("malformed checkpoint note: contains a control character")
    cut = text.rfind("\n\n")
    if cut < 0 or not text.endswith("\n"):
        raise Failure("malformed checkpoint note: no blank line before the signatures")
    body, lines = text[: cut + 1], text[cut + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise Failure("malformed checkpoint note: too many signatures")
    name, kid, public_key = key
    verified = False
    for n, line in enumerate(lines, 1):
        sig_name, sep, b64 = line[len(DASH) :].partition(" ")
        if not line.startswith(DASH) or not sep or not _valid_name(sig_name) or " " in b64:
            raise Failure(f"malformed checkpoint note: bad signature line {n}")
        raw = _b64(b64, f"signature line {n}")
        if len(raw) < 5:
            raise Failure(f"malformed checkpoint note: signature line {n} is too short")
        if sig_name != name or int.from_bytes(raw[:4], "big") != kid:
            continue  # another key (a witness, a rotated key): C2SP says ignore it
        if not _ed25519_verify(public_key, raw[4:], body.encode()):
            raise Failure(f"invalid signature for key {name}+{kid:08x}")
        verified = True
    if not verified:
        raise Failure(f"checkpoint is not signed by key {name}+{kid:08x}")
    return body


def parse_checkpoint(body: str) -> tuple[str, int, bytes]:
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise Failure("malformed checkpoint: needs origin, size and root lines")
    origin, size_text, root_text = lines[:3]
    if not origin:
        raise Failure("malformed checkpoint: empty origin")
    if any(not line for line in lines[3:]):
        raise Failure("malformed checkpoint: empty extension line")
    if not (size_text.isascii() and size_text.isdigit()) or (
        len(size_text) > 1 and size_text[0] == "0"
    ):
        raise Failure(f"malformed checkpoint: tree size {size_text!r} is not decimal")
    root = _b64(root_text, "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise Failure(f"malformed checkpoint: root hash is not {HASH_SIZE} bytes")
    return origin, int(size_text), root


# --- Bundles ------------------------------------------------------------------------------------


def _load_json(path: str, what: str) -> Any:
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
    except OSError as exc:
        raise Failure(f"cannot read {what} {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Failure(f"{what} {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != BUNDLE_VERSION:
        raise Failure(f"{what} {path}: not a version {BUNDLE_VERSION} object")
    return data


def _get(data: Any, name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Failure(f"bundle field {name!r} is missing or has the wrong type")
    return value


def _hashes(data: Any, name: str) -> list[bytes]:
    out = []
    for i, item in enumerate(_get(data, name, list)):
        try:
            h = bytes.fromhex(item) if isinstance(item, str) else b""
        except ValueError:
            h = b""
        if len(h) != HASH_SIZE:
            raise Failure(f"{name}[{i}] is not a {HASH_SIZE}-byte hex hash")
        out.append(h)
    return out


def canonical_event(data: Any) -> tuple[bytes, Any]:
    """The event's bytes, after checking they are privtrail's canonical JSON of an object."""
    if ("event" in data) == ("event_b64" in data):
        raise Failure("bundle needs exactly one of 'event' or 'event_b64'")
    if "event" in data:
        event = _get(data, "event", str).encode("utf-8")
    else:
        event = _b64(_get(data, "event_b64", str), "event_b64")
    try:
        obj = json.loads(event)
    except (ValueError, UnicodeDecodeError):
        raise Failure("event is not valid JSON") from None
    if not isinstance(obj, dict):
        raise Failure("event must be a JSON object")
    # Exactly privtrail.events.canonical_json: the sink hashed these bytes.
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if canonical.encode("utf-8") != event:
        raise Failure("event is not in canonical form (sorted keys, no spaces, UTF-8)")
    return event, obj


def verify_bundle(path: str, key_text: str | None, origin: str | None) -> str:
    data = _load_json(path, "proof bundle")
    event, obj = canonical_event(data)
    index = _get(data, "leaf_index", int)
    size = _get(data, "tree_size", int)
    proof = _hashes(data, "inclusion_proof")
    note = _get(data, "checkpoint", str).encode("utf-8")
    bundled_key = _get(data, "verifier_key", str)
    key = parse_verifier_key(key_text if key_text is not None else bundled_key)
    cp_origin, cp_size, cp_root = parse_checkpoint(open_note(note, key))
    if origin is not None and cp_origin != origin:
        raise Failure(f"checkpoint is for log {cp_origin!r}, not {origin!r}")
    if cp_size != size:
        raise Failure(f"checkpoint is for tree size {cp_size}, but the proof is for {size}")
    verify_inclusion(leaf_hash(event), index, size, proof, cp_root)
    trust = "" if key_text is not None else " (key taken from the bundle: compare it out of band)"
    root_b64 = base64.b64encode(cp_root).decode()
    return (
        f"OK: event {obj.get('event_id', '?')} is leaf {index} of {cp_origin} "
        f"at tree size {cp_size}, root {root_b64}, signed by {key[0]}+{key[1]:08x}{trust}"
    )


def verify_consistency_files(old_path: str, new_path: str, proof_path: str, key_text: str) -> str:
    key = parse_verifier_key(key_text)
    checkpoints = []
    for path in (old_path, new_path):
        try:
            with open(path, "rb") as fh:
                note = fh.read()
        except OSError as exc:
            raise Failure(f"cannot read checkpoint {path}: {exc.strerror}") from None
        checkpoints.append(parse_checkpoint(open_note(note, key)))
    (old_origin, old_size, old_root), (new_origin, new_size, new_root) = checkpoints
    if old_origin != new_origin:
        raise Failure(f"checkpoints are for different logs: {old_origin!r} and {new_origin!r}")
    data = _load_json(proof_path, "consistency proof")
    if (_get(data, "old_size", int), _get(data, "new_size", int)) != (old_size, new_size):
        raise Failure(
            f"proof is for sizes {data['old_size']} -> {data['new_size']}, "
            f"checkpoints are {old_size} -> {new_size}"
        )
    verify_consistency(old_size, new_size, old_root, new_root, _hashes(data, "consistency_proof"))
    return f"OK: {old_origin} at size {old_size} is a prefix of the same log at size {new_size}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Verify a privtrail proof bundle or consistency proof offline."
    )
    parser.add_argument("bundle", nargs="?", help="proof bundle JSON from 'privtrail prove'")
    parser.add_argument("--key", help="the log's verifier key <name>+<id>+<base64>")
    parser.add_argument("--key-file", help="file holding the verifier key")
    parser.add_argument("--origin", help="expected checkpoint origin (the log's name)")
    parser.add_argument(
        "--consistency",
        nargs=3,
        metavar=("OLD_NOTE", "NEW_NOTE", "PROOF_JSON"),
        help="verify that OLD_NOTE's tree is a prefix of NEW_NOTE's",
    )
    args = parser.parse_args(argv)
    if (args.bundle is None) == (args.consistency is None):
        parser.error("give either a proof bundle or --consistency OLD NEW PROOF")
    if args.key and args.key_file:
        parser.error("give --key or --key-file, not both")
    try:
        key = args.key
        if args.key_file:
            try:
                with open(args.key_file, encoding="utf-8") as fh:
                    key = fh.read().strip()
            except OSError as exc:
                raise Failure(f"cannot read key file: {exc.strerror}") from None
        if args.consistency:
            if key is None:
                parser.error("--consistency needs --key or --key-file")
            old_note, new_note, proof_file = args.consistency
            message = verify_consistency_files(old_note, new_note, proof_file, key)
        else:
            message = verify_bundle(args.bundle, key, args.origin)
    except Failure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
