"""Helpers for test suites that need a throw-away stack (used by tests/integration)."""

from __future__ import annotations

from pathlib import Path

from privtrail.errors import StackError
from privtrail.stack.manager import Stack
from privtrail.stack.ports import StackPorts
from privtrail.stack.settings import cache_dir
from privtrail.stack.watchdog import spawn_watchdog

START_ATTEMPTS = 3


def start_throwaway_stack(
    home: Path, attempts: int = START_ATTEMPTS, *, watchdog: bool = True
) -> Stack:
    """Start a stack in ``home`` on fresh free ports, sharing the default jar cache.

    Free ports can be taken by another process between choosing and binding them (several
    engineers share a machine), so a busy port is retried with new ports. With
    ``watchdog``, the stack is stopped when this process dies, even without a teardown.
    """
    last: StackError | None = None
    if watchdog:
        # Before up(): a session killed while the JVM boots must not leak it either.
        spawn_watchdog(home)
    for _ in range(attempts):
        stack = Stack(home=home, ports=StackPorts.free(), cache=cache_dir())
        try:
            stack.up()
            return stack
        except StackError as exc:
            last = exc
            stack.down()
            if "already in use" not in str(exc):
                break
    raise StackError(f"the local Kafka + ClickHouse stack could not start: {last}")
