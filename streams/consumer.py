"""Faust's Kafka consumer without four asyncio tasks per record, and with a commit gate.

Faust hands every fetched record to the streams with
``await self.wait_first(callback(record), self.suspend_flow.wait())`` (the consumer's
drain loop), so that a hand-over blocked on a full stream buffer is abandoned when a
rebalance suspends the flow. ``Service.wait_first`` wraps each awaitable, plus the
service's stopped and crashed events, in a task and runs ``asyncio.wait``: four tasks,
their cancellation and a wait per record, a fifth of the worker's CPU in profiles.

Almost every hand-over finishes without waiting (the buffer has room). So
:meth:`FastDrainConsumer.wait_first` first runs the hand-over coroutine by one step,
in place: if that finishes it, nothing more is needed; if it has to wait, the rest of
it goes through Faust's ``wait_first`` exactly as before, racing the suspended flow.

What stays the same: in Faust's version the hand-over task is the first one created,
so it also runs first, and a hand-over that does not wait completes before any of the
other tasks (the suspended flow included) gets to run. A hand-over that waits, fails or
is cancelled behaves as before. The returned ``WaitResults`` may name fewer winners (the
drain loop ignores them). What changes is the interleaving: Faust's wait lets the loop
run, and so the agents, between two hand-overs; in place, the drain loop hands over up
to a hundred records (its own ``sleep(0)`` interval) before any agent takes one.

The seek, where Faust depended on that interleaving: it ends a rebalance
(``Recovery.on_recovery_completed``) by resuming the stream partitions, seeking them
back to their committed offsets and only then resuming the buffers, which clears them.
The flow is already on while that seek is under way (table recovery turned it on for
the changelogs), so the drain loop goes on handing over records of the resumed
partitions fetched meanwhile from the old positions. The clear then drops those no
agent took yet, and the rest of that batch reaches the drain loop after the seek has
set the read offsets back to the committed ones, so Faust counts the records in
between as a gap, that is as processed, and commits past them: records never
processed. With a wait per record the agents had usually taken them before the clear;
in place, the whole batch was still in the buffers, and a worker taking over a killed
worker's partitions (tests/integration/test_scaling.py) committed past records it never
processed. So :meth:`FastDrainConsumer.perform_seek` stops the flow first: nothing is
handed over while the offsets move, the batch in progress is abandoned, and fetching
goes on from the committed offsets when Faust resumes the flow, which every caller of
the seek does right after it (in ``getmany`` the flow is already stopped).

The fetch wait: Faust creates its aiokafka consumer with ``fetch_max_wait_ms=1500``, how
long the broker may hold a fetch that found no new data. One consumer sends one fetch
at a time per broker, for every assigned partition that has no fetched records waiting.
Under a backlog the events partitions always have records waiting (the agents have not
taken them yet), so after aiokafka's 100 ms prefetch backoff the fetch goes out for the
other partitions only (changelogs, alerts, ticks, the repartition topics), which are
quiet: the broker holds it for the full 1.5 s, and when the agents then take the waiting
records, the next fetch of the events partitions waits behind it. The worker stood idle
for 0.5-1 s, several times a minute, with a backlog on the broker
(``benchmarks/bench_streams.py``; docs/streams.md, Performance). :class:`ShortPollThread`
creates the consumer with ``WorkerSettings.fetch_max_wait`` instead (0.1 s): a quiet
worker sends ten empty fetches a second, and a busy one never waits long for its data.

The commit gate: every offset commit of the consumer (periodic, at a rebalance, on the
way out, after an agent error) ends in ``_commit``, after Faust has flushed the
producer. :meth:`FastDrainConsumer._commit` first asks the app's delivery guard
(:mod:`privtrail.streams.delivery`), which says no once any output was not
acknowledged by the broker; the offsets then stay where they are.
"""

from __future__ import annotations

import types
from collections.abc import Generator
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer
from mode.services import WaitResults

from privtrail.streams.delivery import DeliveryGuard


class FastWaitFirst:
    """Mixin for a ``mode.Service``: ``wait_first`` runs its first coroutine's first
    step in place, and takes Faust's way only when that step has to wait."""

    _stopped: Any
    _crashed: Any

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        first = coros[0] if coros else None
        if timeout is not None or not isinstance(first, types.CoroutineType):
            result: WaitResults = await super().wait_first(*coros, timeout=timeout)  # type: ignore[misc]
            return result
        try:
            yielded = first.send(None)
        except StopIteration as done:
            _close(coros[1:])
            if self._stopped.is_set() or self._crashed.is_set():
                return WaitResults([], [], True)
            return WaitResults([first], [done.value], False)
        except BaseException:
            _close(coros[1:])
            raise
        rest: WaitResults = await super().wait_first(_finish(first, yielded), *coros[1:])  # type: ignore[misc]
        return rest


class FastDrainConsumer(FastWaitFirst, Consumer):
    """The aiokafka consumer of Faust with the in-place hand-over, the commit gate and
    no hand-over while the offsets are sought back (see the module docstring)."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return ShortPollThread(self, loop=self.loop, beacon=self.beacon)

    async def _handle_attached(self, commit_offsets: Any) -> None:
        # Faust's step before every commit that has offsets to commit, after those
        # offsets were chosen: the app's write-behind tables send their changelog
        # records first, so the producer flush that follows covers them
        # (privtrail.streams.tables.LedgerTable).
        before = getattr(self.app, "before_commit", None)
        if before is not None:
            await before()
        await super()._handle_attached(commit_offsets)

    async def perform_seek(self) -> None:
        # Seeking back to the committed offsets: nothing fetched before the seek may be
        # handed over any more (module docstring, "The seek"). The caller resumes the
        # flow once the seek is done and the buffers are cleared.
        self.stop_flow()
        await super().perform_seek()

    async def _commit(self, offsets: Any) -> bool:
        guard: DeliveryGuard | None = getattr(self.app, "delivery", None)
        if guard is not None and not await guard.may_commit():
            return False  # Faust then neither commits nor tells the tables it did
        committed: bool = await super()._commit(offsets)
        return committed


class ShortPollThread(AIOKafkaConsumerThread):
    """Faust's consumer thread, whose aiokafka consumer waits at most the app's
    ``fetch_max_wait`` seconds for a fetch (see the module docstring, "The fetch wait")."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait: float | None = getattr(self.app, "fetch_max_wait", None)
        if wait is not None:
            # Faust passes a fixed 1500 to the constructor; aiokafka keeps it here and
            # hands it to its fetcher at start, which has not happened yet.
            consumer._fetch_max_wait_ms = max(1, round(wait * 1000))
        return consumer


def _close(coros: tuple[Any, ...]) -> None:
    """Close never-started coroutines (no "was never awaited" warnings)."""
    for coro in coros:
        if isinstance(coro, types.CoroutineType):
            coro.close()


async def _finish(coro: Any, yielded: Any) -> Any:
    """The rest of ``coro``, which has already run one step and yielded ``yielded``."""
    return await _rest_of(coro, yielded)


@types.coroutine
def _rest_of(coro: Any, yielded: Any) -> Generator[Any, Any, Any]:
    # What ``await`` does for a fresh coroutine, picking up after its first step: pass
    # each yielded future up to the task, and the task's answer (or error) back down.
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


def install(app: Any) -> None:
    """Make ``app`` create its consumer as a :class:`FastDrainConsumer`.

    Only for Faust's aiokafka transport (the ``kafka://`` URLs the worker uses); must
    run before the app starts (the consumer is created at start).
    """
    transport = app.transport
    if issubclass(FastDrainConsumer, transport.Consumer):
        transport.Consumer = FastDrainConsumer
