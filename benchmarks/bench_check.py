"""Benchmark: ``privtrail check`` on a generated 1M-line JSON Lines file.

Writes the file (a realistic mix over 100k subjects, in time order) to a temporary
directory unless ``--file`` points at one, runs ``privtrail check`` on it in a child
process, and reports wall time, the rate (events/s), and the peak memory of the child.
For scale it also times a bare baseline in the same run: reading the same file and
``json.loads`` of every line.

    /tmp/pv/bin/python benchmarks/bench_check.py [--lines 1000000] [--subjects 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))

from fixtures.mixgen import mixed_events  # noqa: E402


def generate(path: Path, lines: int, subjects: int) -> None:
    span = 365 * 86400 / lines
    with path.open("w", encoding="utf-8") as f:
        for event in mixed_events(
            7, lines, subjects, step_seconds=span, noise=0.001, sloppiness=0.1
        ):
            f.write(json.dumps(event, separators=(",", ":")) + "\n")


def baseline(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            json.loads(line)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--file", type=Path, help="an existing JSON Lines file to check")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or Path(tmp) / "events.jsonl"
        if args.file is None:
            t0 = time.perf_counter()
            generate(path, args.lines, args.subjects)
            print(
                f"generated {args.lines:,} lines ({path.stat().st_size / 2**20:.0f} MiB) "
                f"in {time.perf_counter() - t0:.1f} s"
            )
        n = sum(1 for _ in path.open("rb"))
        base = baseline(path)
        exe = Path(sys.executable).with_name("privtrail")
        cmd = [str(exe), "check", str(path)]
        out_path = Path(tmp) / "alerts.jsonl"
        started = time.perf_counter()
        with out_path.open("wb") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, check=False)
        wall = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        alerts = sum(1 for _ in out_path.open("rb"))
        print(f"baseline (read + json.loads per line): {n / base:,.0f} lines/s")
        print(
            f"privtrail check: exit {proc.returncode}, {alerts:,} alerts, {wall:.1f} s wall, "
            f"{n / wall:,.0f} lines/s, peak RSS {peak:,.0f} MiB"
        )
        print(f"ratio check/baseline time: {wall / base:.1f}x")
        print("check's own report:", proc.stderr.decode().strip().splitlines()[-1])


if __name__ == "__main__":
    main()
