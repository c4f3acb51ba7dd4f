"""Tamper evidence: RFC 6962 Merkle trees, proofs, and C2SP signed checkpoints.

Pure functions and small value types; the sink and ``privtrail verify``/``prove`` drive them.
See ``docs/tamper-evidence.md``.
"""

from privtrail.tlog.bundle import ConsistencyBundle, ProofBundle
from privtrail.tlog.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from privtrail.tlog.errors import KeyFormatError, VerificationError
from privtrail.tlog.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
)
from privtrail.tlog.note import NoteSigner, NoteVerifier, open_note, sign_note
from privtrail.tlog.proofs import (
    consistency_proof,
    inclusion_proof,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "Checkpoint",
    "ConsistencyBundle",
    "KeyFormatError",
    "MerkleTree",
    "NoteSigner",
    "NoteVerifier",
    "ProofBundle",
    "VerificationError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "sign_checkpoint",
    "sign_note",
    "verify_consistency",
    "verify_inclusion",
]
