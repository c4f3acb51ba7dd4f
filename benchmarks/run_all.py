"""Run every benchmark in turn and keep their reports under bench-results/.

Each benchmark measures its own bare baseline in the same run and prints ratios, so the
numbers stay comparable on a shared, noisy machine. Pass names to run a subset:
``python benchmarks/run_all.py engine wire``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["engine", "wire", "tlog", "check", "sdk", "sink", "streams", "queries", "disk"]


def main(argv: list[str]) -> int:
    wanted = argv or ORDER
    out_dir = HERE.parent / "bench-results"
    out_dir.mkdir(exist_ok=True)
    failed = []
    for name in wanted:
        script = HERE / f"bench_{name}.py"
        if not script.exists():
            print(f"-- {name}: no benchmarks/bench_{name}.py, skipped")
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=False
        )
        report = result.stdout + (f"\n[stderr]\n{result.stderr}" if result.returncode else "")
        (out_dir / f"{name}.txt").write_text(report)
        print(result.stdout, end="")
        print(f"-- {name}: exit {result.returncode} in {time.monotonic() - started:.0f}s")
        if result.returncode:
            failed.append(name)
            print(result.stderr[-2000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
