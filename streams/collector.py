"""The worker's settings for Python's cyclic garbage collector.

Every event allocates a few dozen container objects (the decoded event, its lists and
sets, Faust's event and message, aiokafka's record), nearly all freed by reference
counting within the event. With the interpreter's defaults the collector still runs a
young collection every 700 net allocations, and every few thousand events a full one
that walks the whole heap: the modules, the app, the tables' ledgers and Faust's fetch
buffers, a few hundred thousand objects, 100-200 ms a time with the event loop stopped.
In ``benchmarks/bench_streams.py`` that was about a quarter of the worker's CPU, and the
pauses land directly on the send-to-alert latency.

So the worker (1) moves everything that exists before it starts (imports, the app, the
policy) into the collector's permanent generation, where it is never walked again, as
long-running servers do (Instagram's ``gc.freeze``), and (2) collects the young
generation every :data:`YOUNG_THRESHOLD` allocations instead of 700. Nothing else
changes: reference counting frees what it always freed, and reference cycles are still
found and freed, later.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
"""Net allocations between young collections (the default is 700)."""

MIDDLE_THRESHOLD = 20
"""Young collections between collections of the middle generation (default 10)."""

OLD_THRESHOLD = 20
"""Middle collections between full collections (default 10; a full collection also waits
until the objects that survived since the last one are a quarter of the heap)."""


def tune_collector() -> tuple[int, int, int]:
    """Freeze what exists now and raise the thresholds; returns the old thresholds."""
    old = gc.get_threshold()
    gc.collect()  # nothing that is garbage now goes to the permanent generation
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    return old
