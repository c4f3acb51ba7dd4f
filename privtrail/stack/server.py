"""What the local Kafka broker and ClickHouse server have in common: a detached process,
tracked by a pid file, that is ready once a probe answers."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import ClassVar

from privtrail.errors import StackError
from privtrail.stack.process import ManagedProcess


class ManagedServer(ABC):
    """Start (idempotently), wait for readiness, and probe one local server."""

    name: ClassVar[str]
    start_timeout: ClassVar[float]
    probe_timeout: ClassVar[float]
    """Default for :meth:`is_ready`."""
    poll_interval: ClassVar[float]
    process: ManagedProcess

    @abstractmethod
    def _launch(self) -> None:
        """Spawn the process (ports checked, config written)."""

    @abstractmethod
    def _answers(self, timeout: float) -> bool:
        """One readiness probe, bounded by ``timeout`` seconds."""

    @abstractmethod
    def _exited_hint(self) -> str:
        """Where to look when the process died while starting."""

    @abstractmethod
    def _silent_hint(self, timeout: float) -> str:
        """What did not answer, and where to look, when starting timed out."""

    def pid(self) -> int | None:
        return self.process.pid()

    def is_running(self) -> bool:
        return self.pid() is not None

    def is_ready(self, timeout: float | None = None) -> bool:
        return self.is_running() and self._answers(
            self.probe_timeout if timeout is None else timeout
        )

    def start(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Start the server unless ours already runs; with ``wait``, return once it answers."""
        if self.pid() is None:
            self._launch()
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Return once the probe answers; :class:`StackError` if the process dies or the
        probe stays silent for ``timeout`` seconds."""
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            if self.pid() is None:
                raise StackError(f"{self.name} exited while starting; {self._exited_hint()}")
            if self._answers(max(1.0, min(5.0, deadline - time.monotonic()))):
                return
            if time.monotonic() >= deadline:
                raise StackError(self._silent_hint(timeout))
            time.sleep(self.poll_interval)
