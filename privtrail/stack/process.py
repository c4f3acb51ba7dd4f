"""Detached server processes tracked by pid files that prove the process is ours.

A pid file alone is not proof: after a reboot or a crash the pid can belong to someone
else's process, and ``stack down`` must never signal that. So the pid file records the
process's start time (from ``/proc``) and a marker string that must appear in its command
line (a path under this ``$PRIVTRAIL_HOME``). A process is ours only when all three match.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from privtrail.errors import StackError

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PidRecord:
    """What a pid file holds."""

    pid: int
    marker: str
    start_time: str | None  # field 22 of /proc/PID/stat; None where /proc is missing

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PidRecord:
        data = json.loads(text)
        pid = data["pid"]
        marker = data["marker"]
        start_time = data.get("start_time")
        if not isinstance(pid, int) or not isinstance(marker, str):
            raise ValueError("pid file needs an integer pid and a string marker")
        return cls(pid=pid, marker=marker, start_time=start_time)


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return raw[raw.rfind(")") + 2 :].split()


def process_start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot, or ``None`` if unknown."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def process_cmdline(pid: int) -> str | None:
    """The command line of ``pid`` joined by spaces, or ``None`` if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        raw = b""
    if raw:
        return raw.replace(b"\0", b" ").decode(errors="replace").strip()
    if Path("/proc").is_dir():
        return None if not Path(f"/proc/{pid}").exists() else ""
    # No /proc (macOS): ask ps.
    result = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or None


def is_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    return not (fields and fields[0] == "Z")


class PidFile:
    """One server's pid file and the checks that the process it names is ours."""

    def __init__(self, path: Path, marker: str) -> None:
        self.path = path
        self.marker = marker

    def read(self) -> PidRecord | None:
        try:
            return PidRecord.from_json(self.path.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            # A corrupt pid file proves nothing; treat it as stale.
            return None

    def write(self, pid: int) -> PidRecord:
        """Record ``pid`` (just spawned by us, with the marker in its command line)."""
        record = PidRecord(pid=pid, marker=self.marker, start_time=process_start_time(pid))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(record.to_json())
        tmp.replace(self.path)
        return record

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def foreign_reason(self, record: PidRecord) -> str | None:
        """Why ``record`` does not name our live process, or ``None`` when it does."""
        if record.marker != self.marker:
            return f"pid file marker {record.marker!r} is not {self.marker!r}"
        if not is_alive(record.pid):
            return f"pid {record.pid} is not running"
        if record.start_time is not None:
            # pid + start time (clock ticks since boot) identify one process for the whole
            # uptime: a reused pid has another start time.
            started = process_start_time(record.pid)
            if started != record.start_time:
                return f"pid {record.pid} started at {started}, ours at {record.start_time}"
        cmdline = process_cmdline(record.pid)
        if record.start_time is not None and not cmdline:
            # The start time already matched; an unreadable command line (process exiting
            # or exec-ing) must not turn our own server into a stranger.
            return None
        if cmdline is None or self.marker not in cmdline:
            return f"pid {record.pid} runs {cmdline!r}, without {self.marker!r}"
        return None

    def owns(self, record: PidRecord) -> bool:
        """True when ``record.pid`` is alive and is the very process we started."""
        return self.foreign_reason(record) is None

    def running_pid(self) -> int | None:
        """The pid of our live process, or ``None`` (a stale pid file is removed)."""
        record = self.read()
        if record is None:
            return None
        reason = self.foreign_reason(record)
        if reason is None:
            return record.pid
        # Delete the file only when its process is certainly gone (dead, or the pid now
        # belongs to a later process). Deleting it for a live process we merely failed to
        # recognise would orphan a server that nothing could stop any more.
        if record.start_time is not None:
            gone = not is_alive(record.pid) or process_start_time(record.pid) != record.start_time
        else:  # no start time (no /proc): a readable command line without our marker decides
            cmdline = process_cmdline(record.pid)
            gone = not is_alive(record.pid) or bool(cmdline and self.marker not in cmdline)
        if gone or record.marker != self.marker:
            _log.info("removing stale pid file %s: %s", self.path, reason)
            self.remove()
        else:
            _log.warning("pid file %s names a live process that is not ours: %s", self.path, reason)
        return None


class ManagedProcess:
    """Start, signal and wait for one detached server process."""

    def __init__(self, name: str, pid_file: PidFile) -> None:
        self.name = name
        self.pid_file = pid_file
        # Kept when we spawned the process ourselves, so we can reap it (no zombies in tests).
        self._popen: subprocess.Popen[bytes] | None = None
        # True when the last stop() needed SIGKILL: whatever it wrote at exit is suspect.
        self.last_stop_forced = False

    def pid(self) -> int | None:
        """Our live process's pid, or ``None``."""
        if self._popen is not None:
            # We spawned it: the Popen handle is proof enough (and reaps it once it exits).
            if self._popen.poll() is None:
                record = self.pid_file.read()
                if record is not None and record.pid == self._popen.pid:
                    return record.pid
            else:
                self._popen = None
        return self.pid_file.running_pid()

    def spawn(
        self, argv: Sequence[str], *, cwd: Path, log_path: Path, env: Mapping[str, str]
    ) -> int:
        """Start ``argv`` in its own session so it outlives the CLI; output goes to a log."""
        if self.pid_file.marker not in " ".join(argv):
            raise StackError(f"internal: {self.name} command line lacks its ownership marker")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            try:
                popen = subprocess.Popen(
                    list(argv),
                    cwd=cwd,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise StackError(f"cannot start {self.name} ({argv[0]}): {exc}") from exc
        self._popen = popen
        self.pid_file.write(popen.pid)
        return popen.pid

    def exited(self, pid: int) -> bool:
        if self._popen is not None and self._popen.pid == pid:
            return self._popen.poll() is not None
        return not is_alive(pid)

    def wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited(pid):
                return True
            time.sleep(0.05)
        return self.exited(pid)

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM our process and wait; SIGKILL after ``timeout``. False if none was running."""
        pid = self.pid()
        if pid is None:
            return False
        self._signal(pid, signal.SIGTERM)
        self.last_stop_forced = False
        if not self.wait_gone(pid, timeout):
            self.last_stop_forced = True
            self._signal(pid, signal.SIGKILL)
            if not self.wait_gone(pid, 10.0):
                raise StackError(f"{self.name} (pid {pid}) did not exit after SIGKILL")
        self.pid_file.remove()
        return True

    def kill(self) -> bool:
        """SIGKILL our process (crash simulation); data stays on disk."""
        pid = self.pid()
        if pid is None:
            return False
        self._signal(pid, signal.SIGKILL)
        if not self.wait_gone(pid, 10.0):
            raise StackError(f"{self.name} (pid {pid}) did not exit after SIGKILL")
        self.pid_file.remove()
        return True

    def _signal(self, pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # it exited on its own: fine
            os.kill(pid, sig)
