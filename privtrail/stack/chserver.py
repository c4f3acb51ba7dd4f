"""The process that hosts the local ClickHouse server (chDB), run as
``python -m privtrail.stack.chserver --root DIR --http-port N``.

Why it looks like this (facts about chdb-core 26.9, verified here):

* Only the low-level ``chdb._chdb.query(sql, fmt, path=...)`` can open listeners, and only
  once per process; the listeners live only while a query runs. So one call runs
  ``SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP;`` followed by a query that sleeps
  one second per row over a practically endless ``numbers()``: that call is the server.
* chDB reads ``config.xml`` from the current directory, and must be imported before we
  change into it.
* Python signal handlers run only in the main thread between bytecodes, and the query
  blocks in C++; so the query runs in a worker thread and the main thread waits for
  SIGTERM. On SIGTERM we ask the server itself to ``KILL QUERY ... SYNC`` the sleeper (as
  ``admin`` over HTTP); the query returns and the process exits cleanly.
* Startup errors (port in use, bad users.xml) are printed by chDB on stderr and the query
  simply returns; a query that returns before we asked it to stop means the server failed.
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

MARKER = "privtrail_listener"
# The alias makes the query findable for KILL; `sum` (not `count`) forces the sleep.
LISTEN_SQL = (
    "SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; "
    f"SELECT sum(sleepEachRow(1)) AS {MARKER} FROM numbers(1000000000000) "
    "SETTINGS max_block_size = 1, max_execution_time = 0"
)
# Prefix match: the KILL statement itself contains the marker but does not start like this.
KILL_SQL = f"KILL QUERY WHERE query LIKE 'SELECT sum(sleepEachRow(1)) AS {MARKER}%' SYNC"
EXIT_FAILED = 3


def _kill_listener(http_port: int, timeout: float) -> None:
    password = os.environ.get("PRIVTRAIL_CH_ADMIN_PASSWORD", "")
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 (always http://127.0.0.1)
        f"http://127.0.0.1:{http_port}/",
        data=KILL_SQL.encode(),
        method="POST",
        headers={"Authorization": f"Basic {token}"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (local)
        response.read()


def serve(root: Path, http_port: int) -> int:
    """Run the server until SIGTERM/SIGINT; return the process exit code."""
    import chdb._chdb as chdb_core  # before chdir, as chDB requires

    os.chdir(root)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    finished = threading.Event()

    def run() -> None:
        try:
            chdb_core.query(LISTEN_SQL, "CSV", path=str(root / "data"))  # type: ignore[attr-defined]
        finally:
            finished.set()

    worker = threading.Thread(target=run, name="chdb-listener", daemon=True)
    worker.start()
    while not stop.wait(0.2):
        if finished.is_set():
            print("clickhouse server stopped unexpectedly (see the error above)", flush=True)
            return EXIT_FAILED
    try:
        _kill_listener(http_port, timeout=20.0)
    except (urllib.error.URLError, OSError) as exc:
        print(f"could not stop the listener query cleanly: {exc}", flush=True)
        return EXIT_FAILED
    if not finished.wait(20.0):
        print("listener query did not end after KILL QUERY", flush=True)
        return EXIT_FAILED
    print("clickhouse server stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", required=True, type=Path, help="folder with config.xml")
    parser.add_argument("--http-port", required=True, type=int)
    args = parser.parse_args(argv)
    return serve(args.root.resolve(), args.http_port)


if __name__ == "__main__":
    # os._exit: chDB's C++ globals may hang or crash in interpreter teardown.
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
