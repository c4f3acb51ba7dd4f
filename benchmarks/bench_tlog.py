"""How fast privtrail.tlog hashes events into a Merkle tree, next to a bare SHA-256.

    /tmp/pv/bin/python benchmarks/bench_tlog.py [--events N] [--size BYTES] [--repeat R]

The baseline is ``hashlib.sha256(event).digest()`` over the same event bytes in the same run;
every other figure is printed as a ratio to it. ``verify`` must recompute every leaf hash and
the tree, so "leaf hashes + root" is its hashing cost; the extrapolation to 10 million events
(target: under 60 s for the whole of ``privtrail verify``) covers hashing only, not reading rows
from ClickHouse.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from collections.abc import Callable

from privtrail.tlog import MerkleTree, leaf_hash, root_from_leaf_hashes

TARGET_EVENTS = 10_000_000
TARGET_SECONDS = 60.0


def make_events(n: int, size: int) -> list[bytes]:
    """Canonical-JSON-like events of about ``size`` bytes, all different."""
    pad = os.urandom(size).hex()
    out = []
    for i in range(n):
        obj = {"event_id": f"ev-{i:012d}", "type": "used", "purpose": "billing", "pad": ""}
        head = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        obj["pad"] = pad[: max(0, size - len(head))]
        out.append(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())
    return out


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=400, help="bytes per event")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.events
    events = make_events(n, args.size)
    mean = sum(map(len, events)) / n
    sha256 = hashlib.sha256
    hashes = [leaf_hash(e) for e in events]

    def baseline() -> object:
        return [sha256(e).digest() for e in events]

    def leaves() -> object:
        return [leaf_hash(e) for e in events]

    def leaves_and_root() -> object:
        return root_from_leaf_hashes([leaf_hash(e) for e in events])

    def root_only() -> object:
        return root_from_leaf_hashes(hashes)

    def incremental() -> object:
        tree = MerkleTree()
        append = tree.append
        for e in events:
            append(leaf_hash(e))
        return tree.root()

    def rebuild() -> object:
        return MerkleTree.from_leaf_hashes(hashes).root()

    cases: list[tuple[str, Callable[[], object]]] = [
        ("bare sha256(event) [baseline]", baseline),
        ("leaf hashes only", leaves),
        ("tree root from stored leaf hashes", root_only),
        ("leaf hashes + root  (= verify)", leaves_and_root),
        ("MerkleTree.append per event (= sink)", incremental),
        ("MerkleTree.from_leaf_hashes (= restart)", rebuild),
    ]
    print(f"{n:,} events, mean {mean:.0f} bytes, best of {args.repeat} runs")
    base = None
    verify_rate = 0.0
    for name, fn in cases:
        seconds = best_of(args.repeat, fn)
        base = base or seconds
        rate = n / seconds
        if fn is leaves_and_root:
            verify_rate = rate
        print(f"  {name:42s} {rate:>12,.0f} events/s   x{seconds / base:5.2f} of baseline")
    projected = TARGET_EVENTS / verify_rate
    verdict = "within" if projected < TARGET_SECONDS else "OVER"
    print(
        f"verify hashing for {TARGET_EVENTS:,} events: {projected:.1f} s projected "
        f"({verdict} the {TARGET_SECONDS:.0f} s target, before reading rows from ClickHouse)"
    )


if __name__ == "__main__":
    main()
