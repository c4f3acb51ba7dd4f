"""The asyncio audit client: the same methods, awaitable, over the same core.

``AsyncAuditClient`` wraps an :class:`~privtrail.sdk.client.AuditClient`: validation,
pseudonyms, encoding and delivery are shared, nothing is written twice. A call validates and
enqueues (thread delivery) or appends to the page cache (process delivery) inline,
microseconds; only when the write may wait for the disk (spooling in thread delivery, or an
``fsync`` per call with ``spool_fsync="always"``) does it move to a worker thread, so the
event loop never waits on the disk. ``flush`` and ``close`` run in a worker thread too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

from privtrail.events import BaseEvent
from privtrail.sdk.builder import Subject
from privtrail.sdk.client import AuditClient
from privtrail.sdk.methods import EventMethods

_T = TypeVar("_T")


class AsyncAuditClient(EventMethods[Awaitable[str]]):
    """``await audit.used(subject, ...)`` returns the event_id. Arguments as AuditClient."""

    def __init__(self, **kwargs: Any) -> None:
        self._setup(AuditClient(**kwargs))

    def _setup(self, client: AuditClient) -> None:
        self._client = client
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="privtrail-aio")
        self._in_thread = 0

    def _thread_done(self, _future: asyncio.Future[str]) -> None:
        self._in_thread -= 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> AsyncAuditClient:
        """Like :meth:`AuditClient.from_env`."""
        return cls.wrap(AuditClient.from_env(env, **kwargs))

    @classmethod
    def wrap(cls, client: AuditClient) -> AsyncAuditClient:
        """An async face for an existing blocking client (they then share everything)."""
        self = cls.__new__(cls)
        self._setup(client)
        return self

    @property
    def sync(self) -> AuditClient:
        """The blocking client underneath (for metrics, ``pseudonym``, state)."""
        return self._client

    def _record(
        self,
        event_type: str,
        subject: Subject | None,
        fields: dict[str, Any],
        common: Mapping[str, Any],
    ) -> Awaitable[str]:
        # Validation raises right here, at the call site, even before any await.
        event = self._client.build(event_type, subject, fields, common)
        return self._dispatch(self._client._submit, event)

    def emit(self, event: BaseEvent) -> Awaitable[str]:
        """Send an already-built typed event."""
        return self._dispatch(self._client.emit, event)

    def emit_json(self, data: Mapping[str, Any], *, pseudonymise: bool = False) -> Awaitable[str]:
        """Send a JSON-form event (see :meth:`AuditClient.emit_json`)."""
        return self._dispatch(lambda d: self._client.emit_json(d, pseudonymise=pseudonymise), data)

    def _dispatch(self, fn: Callable[[_T], str], arg: _T) -> Awaitable[str]:
        """Enqueue now when that cannot block; otherwise hand the (spool) write to a thread.

        The event is accepted as soon as this returns, whether or not the caller awaits:
        fire-and-forget calls are not lost. The read of ``spooling`` is racy on purpose;
        it only picks the thread, the core decides queue vs spool under its lock.
        """
        loop = asyncio.get_running_loop()
        if self._client.spooling or self._client.fsyncs_each_call or self._in_thread:
            # one worker thread, and everything after a threaded call follows it there:
            # per-subject order holds across the switch
            self._in_thread += 1
            out = loop.run_in_executor(self._executor, fn, arg)
            out.add_done_callback(self._thread_done)
            return out
        future: asyncio.Future[str] = loop.create_future()
        future.set_result(fn(arg))
        return future

    async def flush(self, timeout: float | None = None) -> bool:
        return await asyncio.to_thread(self._client.flush, timeout)

    async def close(self, timeout: float = 10.0) -> bool:
        loop = asyncio.get_running_loop()
        # after the pending spool writes (same single worker), then close off the loop
        await loop.run_in_executor(self._executor, lambda: None)
        self._executor.shutdown(wait=True)
        return await asyncio.to_thread(self._client.close, timeout)

    async def __aenter__(self) -> AsyncAuditClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
