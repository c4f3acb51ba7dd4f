"""ClickHouse as a local process: chDB (the ``chdb-core`` wheel) serving HTTP and native TCP.

Layout under ``$PRIVTRAIL_HOME``: ``clickhouse/config.xml`` (rendered on every start),
``clickhouse/data`` (the databases), ``logs/clickhouse.log`` and ``logs/clickhouse.err.log``
(server logs), ``logs/clickhouse.out`` (the host process's output), ``run/clickhouse.pid``.
The host process is :mod:`privtrail.stack.chserver`.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from privtrail.errors import StackError
from privtrail.stack.ports import HOST, require_free
from privtrail.stack.process import ManagedProcess, PidFile
from privtrail.stack.server import ManagedServer
from privtrail.stack.settings import CLICKHOUSE_DATABASE, ClickHouseUser, ClickHouseUsers

START_TIMEOUT = 60.0
STOP_TIMEOUT = 40.0


def users_xml_path() -> Path:
    """The packaged ``users.xml`` (a real file: docker-compose mounts the same one)."""
    return Path(str(resources.files("privtrail.stack").joinpath("users.xml")))


@dataclass(frozen=True, slots=True)
class ClickHouseConfig:
    """What the server's ``config.xml`` is rendered from."""

    http_port: int
    tcp_port: int
    log_file: Path
    error_log_file: Path
    users_xml: Path

    def render(self) -> str:
        template = resources.files("privtrail.stack").joinpath("clickhouse-config.xml")
        return Template(template.read_text()).substitute(
            host=HOST,
            http_port=self.http_port,
            tcp_port=self.tcp_port,
            users_xml=self.users_xml,
            log_file=self.log_file,
            error_log_file=self.error_log_file,
        )


def ping(http_url: str, timeout: float = 1.0) -> bool:
    """True when ``GET /ping`` answers ``Ok.``."""
    try:
        with urllib.request.urlopen(f"{http_url}/ping", timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200 and response.read().strip() == b"Ok.")
    except (urllib.error.URLError, OSError, ValueError):
        return False


def http_query(http_url: str, user: ClickHouseUser, sql: str, timeout: float = 30.0) -> str:
    """Run one statement over HTTP as ``user`` (stack plumbing; clients use clickhouse-connect)."""
    token = base64.b64encode(f"{user.name}:{user.password}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 (always http://127.0.0.1)
        f"{http_url}/",
        data=sql.encode(),
        method="POST",
        headers={"Authorization": f"Basic {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return str(response.read().decode())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace").strip().splitlines()
        first = detail[0] if detail else str(exc)
        raise StackError(f"ClickHouse refused {sql[:60]!r} as {user.name}: {first}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise StackError(f"ClickHouse at {http_url} is not answering: {exc}") from exc


class ClickHouseServer(ManagedServer):
    """Start, stop and probe the local ClickHouse. Data stays on disk across stop/start."""

    name = "ClickHouse"
    start_timeout = START_TIMEOUT
    probe_timeout = 1.0
    poll_interval = 0.05

    def __init__(
        self, *, home: Path, http_port: int, tcp_port: int, users: ClickHouseUsers | None = None
    ) -> None:
        self.home = home
        self.http_port = http_port
        self.tcp_port = tcp_port
        self.users = users or ClickHouseUsers.from_env()
        self.root = home / "clickhouse"
        self.data_dir = self.root / "data"
        self.log_file = home / "logs" / "clickhouse.log"
        self.error_log_file = home / "logs" / "clickhouse.err.log"
        self.out_file = home / "logs" / "clickhouse.out"
        # The root folder is unique to this home: it proves a pid is our server.
        self.process = ManagedProcess(
            "ClickHouse", PidFile(home / "run" / "clickhouse.pid", marker=f"--root={self.root}")
        )

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def config(self) -> ClickHouseConfig:
        return ClickHouseConfig(
            http_port=self.http_port,
            tcp_port=self.tcp_port,
            log_file=self.log_file,
            error_log_file=self.error_log_file,
            users_xml=users_xml_path(),
        )

    def _launch(self) -> None:
        ports = {"clickhouse_http": self.http_port, "clickhouse_tcp": self.tcp_port}
        require_free(ports, "ClickHouse", grace=3.0)
        # find_spec, not import: loading chDB's library here would cost the CLI ~1 s and RAM.
        if importlib.util.find_spec("chdb") is None:
            raise StackError(
                "chdb-core is not installed; install privtrail[server] "
                "(pip install 'privtrail[server]') to run the local ClickHouse"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        (self.root / "config.xml").write_text(self.config().render())
        argv = [
            sys.executable,
            "-m",
            "privtrail.stack.chserver",
            f"--root={self.root}",
            f"--http-port={self.http_port}",
        ]
        # users.xml reads the passwords with from_env: they must be in the server's env.
        env = {**os.environ, **self.users.as_env()}
        self.process.spawn(argv, cwd=self.root, log_path=self.out_file, env=env)

    def _answers(self, timeout: float) -> bool:
        return ping(self.http_url, timeout=min(timeout, 1.0))

    def _exited_hint(self) -> str:
        return f"see {self.out_file}{_last_error(self.out_file)}"

    def _silent_hint(self, timeout: float) -> str:
        return (
            f"ClickHouse did not answer {self.http_url}/ping within {timeout:.0f} s; "
            f"see {self.out_file} and {self.error_log_file}"
        )

    def ensure_database(self, name: str = CLICKHOUSE_DATABASE) -> None:
        """``CREATE DATABASE IF NOT EXISTS`` as admin (tables are the migrations' business)."""
        http_query(self.http_url, self.users.admin, f"CREATE DATABASE IF NOT EXISTS `{name}`")

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Clean stop (SIGTERM -> KILL QUERY of the listener); False when it was not running."""
        return self.process.stop(timeout)

    def kill(self) -> bool:
        """SIGKILL, as in a crash; parts already written survive."""
        return self.process.kill()


def _last_error(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    # chDB prints "Code: NNN. DB::Exception: ..." for startup failures: show that line.
    errors = [line for line in lines if "Exception" in line]
    pick = errors[-1] if errors else (lines[-1] if lines else "")
    return f" ({pick.strip()[:300]})" if pick else ""
