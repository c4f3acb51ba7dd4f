"""Pid files prove ownership: `stack down` must never signal a process that is not ours."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from privtrail.stack.process import (
    ManagedProcess,
    PidFile,
    PidRecord,
    is_alive,
    process_start_time,
)

pytestmark = pytest.mark.unit

SLEEPER = [sys.executable, "-c", "import time, sys; time.sleep(60)"]


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not ours (no marker in its command line)."""
    proc = subprocess.Popen(SLEEPER)
    yield proc
    proc.kill()
    proc.wait()


def test_spawned_process_is_owned_and_stopped(tmp_path: Path) -> None:
    marker = f"--marker={tmp_path}"
    managed = ManagedProcess("sleeper", PidFile(tmp_path / "run" / "s.pid", marker))
    pid = managed.spawn(
        [*SLEEPER, marker], cwd=tmp_path, log_path=tmp_path / "s.log", env=os.environ
    )
    assert managed.pid() == pid
    assert managed.stop(timeout=5)
    assert not is_alive(pid)
    assert not (tmp_path / "run" / "s.pid").exists()
    assert managed.stop() is False  # nothing left to stop


def test_foreign_pid_is_not_ours_and_not_signalled(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    pid_file = PidFile(tmp_path / "k.pid", marker=f"--marker={tmp_path}")
    # A pid file that names a live process without our marker (e.g. pid reuse).
    pid_file.path.write_text(PidRecord(stranger.pid, pid_file.marker, None).to_json())
    managed = ManagedProcess("kafka", pid_file)
    assert managed.pid() is None
    assert not pid_file.path.exists()  # the stale file is cleaned up
    assert managed.stop() is False
    assert stranger.poll() is None  # still running: we did not signal it


def test_wrong_start_time_is_not_ours(tmp_path: Path) -> None:
    marker = f"--marker={tmp_path}"
    proc = subprocess.Popen([*SLEEPER, marker])
    try:
        pid_file = PidFile(tmp_path / "k.pid", marker)
        record = pid_file.write(proc.pid)
        assert pid_file.owns(record)
        assert not pid_file.owns(PidRecord(proc.pid, marker, "1"))  # same pid, other process
        assert not PidFile(tmp_path / "k.pid", "--marker=/elsewhere").owns(record)
    finally:
        proc.kill()
        proc.wait()


def test_dead_pid_is_stale(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    pid_file = PidFile(tmp_path / "k.pid", "x")
    pid_file.path.write_text(PidRecord(proc.pid, "x", None).to_json())
    assert pid_file.running_pid() is None


@pytest.mark.parametrize("content", ["", "not json", '{"pid": "12"}', "[1, 2]", '{"marker": "x"}'])
def test_corrupt_pid_file_is_ignored(tmp_path: Path, content: str) -> None:
    pid_file = PidFile(tmp_path / "k.pid", "x")
    pid_file.path.write_text(content)
    assert pid_file.read() is None
    assert pid_file.running_pid() is None


def test_spawn_refuses_a_command_line_without_marker(tmp_path: Path) -> None:
    from privtrail.errors import StackError

    managed = ManagedProcess("sleeper", PidFile(tmp_path / "s.pid", "--marker=abc"))
    with pytest.raises(StackError, match="marker"):
        managed.spawn(SLEEPER, cwd=tmp_path, log_path=tmp_path / "s.log", env=os.environ)


def test_matching_start_time_without_marker_is_not_ours(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    pid_file = PidFile(tmp_path / "k.pid", marker=f"--marker={tmp_path}")
    record = PidRecord(stranger.pid, pid_file.marker, process_start_time(stranger.pid))
    reason = pid_file.foreign_reason(record)
    assert reason is not None and "without" in reason
    assert stranger.poll() is None


def test_pid_file_of_a_live_unrecognised_process_is_kept(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    """Same pid and start time as recorded, so it is the process we started even if its
    command line looks wrong: keep the file rather than orphan a server."""
    pid_file = PidFile(tmp_path / "k.pid", marker=f"--marker={tmp_path}")
    record = PidRecord(stranger.pid, pid_file.marker, process_start_time(stranger.pid))
    pid_file.path.write_text(record.to_json())
    assert pid_file.running_pid() is None
    assert pid_file.path.exists()
