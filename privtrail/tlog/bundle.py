"""Proof bundles: what ``privtrail prove`` hands to a regulator, as one JSON file.

The format is public (``docs/tamper-evidence.md``) and is read by the standalone verifier
``tools/privtrail_verify_proof.py``, which must agree with :meth:`ProofBundle.verify` here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from privtrail.events import canonical_json
from privtrail.tlog.checkpoint import Checkpoint, open_checkpoint
from privtrail.tlog.errors import KeyFormatError, VerificationError
from privtrail.tlog.merkle import HASH_SIZE, leaf_hash
from privtrail.tlog.note import NoteVerifier
from privtrail.tlog.proofs import consistency_proof, inclusion_proof, verify_consistency
from privtrail.tlog.proofs import verify_inclusion as _verify_inclusion

VERSION = 1


def _field(data: dict[str, Any], name: str, kind: type, what: str = "proof bundle") -> Any:
    if name not in data:
        raise VerificationError(f"{what}: missing field {name!r}")
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise VerificationError(f"{what}: field {name!r} has the wrong type")
    return value


def _hashes(data: dict[str, Any], name: str, what: str = "proof bundle") -> tuple[bytes, ...]:
    out = []
    for i, item in enumerate(_field(data, name, list, what)):
        try:
            h = bytes.fromhex(item) if isinstance(item, str) else b""
        except ValueError:
            h = b""
        if len(h) != HASH_SIZE:
            raise VerificationError(f"{what}: {name}[{i}] is not a {HASH_SIZE}-byte hex hash")
        out.append(h)
    return tuple(out)


def _load(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerificationError(f"{what}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise VerificationError(f"{what}: must be a JSON object")
    if data.get("version") != VERSION:
        raise VerificationError(f"{what}: unsupported version {data.get('version')!r}")
    return data


def check_canonical(event: bytes) -> None:
    """Raise unless ``event`` is exactly ``canonical_json`` of the JSON object it holds."""
    try:
        obj = json.loads(event)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerificationError(f"event is not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise VerificationError("event must be a JSON object")
    if canonical_json(obj) != event:
        raise VerificationError(
            "event is not in canonical form (sorted keys, no spaces, UTF-8, no \\u escapes)"
        )


@dataclass(frozen=True)
class ProofBundle:
    """One event, its inclusion proof, and the signed checkpoint the proof leads to."""

    event: bytes
    """The event's canonical bytes (``BaseEvent.canonical_bytes()``): what the leaf hashes."""
    leaf_index: int
    tree_size: int
    inclusion_proof: tuple[bytes, ...]
    checkpoint: bytes
    """The signed note, verbatim."""
    verifier_key: str
    """The log's verifier key; a regulator should compare it with one obtained out of band."""

    version: ClassVar[int] = VERSION

    @classmethod
    def build(
        cls,
        event: bytes,
        leaf_index: int,
        leaf_hashes: Sequence[bytes],
        checkpoint_note: bytes,
        verifier: NoteVerifier,
    ) -> ProofBundle:
        """Prove ``event`` (leaf ``leaf_index``) against a signed checkpoint.

        ``leaf_hashes`` are the partition's stored hashes, at least up to the checkpoint's size.
        The result is verified before it is returned, so a bundle that would not verify offline
        (stored hashes that disagree with the signed root) raises here instead.
        """
        checkpoint = open_checkpoint(checkpoint_note, [verifier])
        proof = inclusion_proof(leaf_hashes, leaf_index, checkpoint.size)
        bundle = cls(
            event, leaf_index, checkpoint.size, tuple(proof), checkpoint_note, verifier.key_string()
        )
        bundle.verify([verifier])
        return bundle

    def to_json(self) -> str:
        try:
            event: dict[str, str] = {"event": self.event.decode()}
        except UnicodeDecodeError:
            # Not canonical JSON (so it will not verify), but the bundle stays faithful.
            event = {"event_b64": base64.b64encode(self.event).decode()}
        return json.dumps(
            {
                "version": VERSION,
                **event,
                "leaf_index": self.leaf_index,
                "tree_size": self.tree_size,
                "inclusion_proof": [h.hex() for h in self.inclusion_proof],
                "checkpoint": self.checkpoint.decode(),
                "verifier_key": self.verifier_key,
            },
            indent=2,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ProofBundle:
        data = _load(text, "proof bundle")
        if ("event" in data) == ("event_b64" in data):
            raise VerificationError("proof bundle: needs exactly one of 'event' or 'event_b64'")
        if "event" in data:
            event = _field(data, "event", str).encode()
        else:
            try:
                event = base64.b64decode(_field(data, "event_b64", str), validate=True)
            except binascii.Error as exc:
                raise VerificationError("proof bundle: 'event_b64' is not base64") from exc
        return cls(
            event=event,
            leaf_index=_field(data, "leaf_index", int),
            tree_size=_field(data, "tree_size", int),
            inclusion_proof=_hashes(data, "inclusion_proof"),
            checkpoint=_field(data, "checkpoint", str).encode(),
            verifier_key=_field(data, "verifier_key", str),
        )

    def verify(self, verifiers: Sequence[NoteVerifier] | None = None) -> Checkpoint:
        """Run every check the standalone verifier runs; return the verified checkpoint.

        ``verifiers`` are the trusted keys; by default the bundle's own ``verifier_key``, which
        only shows the bundle is self-consistent, not who signed it.
        """
        if verifiers is None:
            try:
                verifiers = [NoteVerifier.from_key_string(self.verifier_key)]
            except KeyFormatError as exc:
                # The bundle is untrusted input, so a bad key in it is a failed verification.
                raise VerificationError(f"proof bundle: {exc}") from exc
        check_canonical(self.event)
        checkpoint = open_checkpoint(self.checkpoint, verifiers)
        if checkpoint.size != self.tree_size:
            raise VerificationError(
                f"checkpoint is for tree size {checkpoint.size}, "
                f"but the proof is for tree size {self.tree_size}"
            )
        _verify_inclusion(
            leaf_hash(self.event),
            self.leaf_index,
            self.tree_size,
            self.inclusion_proof,
            checkpoint.root_hash,
        )
        return checkpoint


@dataclass(frozen=True)
class ConsistencyBundle:
    """A consistency proof between two checkpoints of one log (the notes travel separately)."""

    old_size: int
    new_size: int
    consistency_proof: tuple[bytes, ...]

    version: ClassVar[int] = VERSION

    @classmethod
    def build(cls, leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> ConsistencyBundle:
        return cls(old_size, new_size, tuple(consistency_proof(leaf_hashes, old_size, new_size)))

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": VERSION,
                "old_size": self.old_size,
                "new_size": self.new_size,
                "consistency_proof": [h.hex() for h in self.consistency_proof],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ConsistencyBundle:
        what = "consistency proof"
        data = _load(text, what)
        return cls(
            _field(data, "old_size", int, what),
            _field(data, "new_size", int, what),
            _hashes(data, "consistency_proof", what),
        )

    def verify(
        self, old_note: bytes, new_note: bytes, verifiers: Sequence[NoteVerifier]
    ) -> tuple[Checkpoint, Checkpoint]:
        """Check both signed checkpoints, that they match this proof, and the proof itself."""
        old = open_checkpoint(old_note, verifiers)
        new = open_checkpoint(new_note, verifiers, origin=old.origin)
        for label, cp, size in (("old", old, self.old_size), ("new", new, self.new_size)):
            if cp.size != size:
                raise VerificationError(
                    f"{label} checkpoint is for tree size {cp.size}, "
                    f"but the proof is for tree size {size}"
                )
        verify_consistency(old.size, new.size, old.root_hash, new.root_hash, self.consistency_proof)
        return old, new
