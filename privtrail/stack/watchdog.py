"""Stops a throw-away stack when the process that owns it dies:
``python -m privtrail.stack.watchdog --home DIR --owner PID``.

The servers are detached on purpose (they must outlive ``privtrail stack up``), so a test
session killed before its teardown (timeout, second Ctrl-C) would leave a JVM and a
ClickHouse running forever on a shared machine. The test fixtures start this watchdog next
to their stack; it polls the owner and runs ``down`` for that home once the owner is gone.
``down`` only touches processes whose pid files prove they belong to that home.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from privtrail.stack.process import is_alive

POLL_SECONDS = 1.0


def spawn_watchdog(home: Path, owner: int | None = None) -> int:
    """Start a detached watchdog for ``home``; returns its pid."""
    argv = [
        sys.executable,
        "-m",
        "privtrail.stack.watchdog",
        f"--home={home}",
        f"--owner={owner if owner is not None else os.getpid()}",
    ]
    log = home / "logs" / "watchdog.out"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


def watch(home: Path, owner: int) -> int:
    while is_alive(owner):
        time.sleep(POLL_SECONDS)
    # Imported late: the watchdog should stay small while it only waits.
    from privtrail.stack.manager import Stack

    # Stopping needs only the pid files, not the ports (the state file may not exist yet).
    Stack(home=home).down()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="stop a stack when its owner process exits")
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--owner", required=True, type=int)
    args = parser.parse_args(argv)
    return watch(args.home.resolve(), args.owner)


if __name__ == "__main__":
    sys.exit(main())
