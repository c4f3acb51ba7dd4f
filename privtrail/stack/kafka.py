"""Apache Kafka as a local process: one KRaft node (broker and controller) on 127.0.0.1.

Layout under ``$PRIVTRAIL_HOME``: ``kafka/server.properties`` and ``kafka/log4j2.xml``
(rendered on every start, so a port change takes effect), ``kafka/data`` (the log dirs,
formatted once), ``logs/kafka.log`` (broker log) and ``logs/kafka.out`` (JVM stdout),
``run/kafka.pid``.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from privtrail.errors import StackError
from privtrail.stack import kafka_jars, settings
from privtrail.stack.java import JavaRuntime, archive_flags, find_java, publish_archive
from privtrail.stack.ports import HOST, port_answers, require_free
from privtrail.stack.process import ManagedProcess, PidFile
from privtrail.stack.server import ManagedServer

START_TIMEOUT = 120.0  # a cold JVM on a busy 2-core machine can take a while
STOP_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    """What the broker's ``server.properties`` is rendered from."""

    port: int
    controller_port: int
    data_dir: Path
    num_partitions: int = 4
    internal_partitions: int = 10  # __consumer_offsets / __transaction_state: 50 is slow here

    def render(self) -> str:
        template = resources.files("privtrail.stack").joinpath("kafka-server.properties")
        return Template(template.read_text()).substitute(
            host=HOST,
            kafka_port=self.port,
            controller_port=self.controller_port,
            data_dir=self.data_dir,
            num_partitions=self.num_partitions,
            internal_partitions=self.internal_partitions,
        )


def render_log4j2(log_file: Path) -> str:
    template = resources.files("privtrail.stack").joinpath("kafka-log4j2.xml").read_text()
    return Template(template).substitute(log_file=log_file)


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 chars).

    Never one starting with ``-``: ``kafka-storage format -t -xyz`` reads it as an option
    and fails (1 start in 64). Kafka's own ``Uuid.randomUuid`` redraws those too.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def metadata_answers(bootstrap: str, timeout: float = 5.0) -> bool:
    """True when the broker at ``bootstrap`` answers a Kafka metadata request."""
    host, _, port = bootstrap.rpartition(":")
    if not port_answers(int(port), host or HOST, timeout=min(timeout, 1.0)):
        return False
    from kafka import KafkaAdminClient  # kafka-python: imported late, it is slow to import

    # kafka-python logs every failed attempt at WARNING while the broker boots; without a
    # logging setup those lines would land on the CLI's stderr. Quiet it for the probe only.
    kafka_log = logging.getLogger("kafka")
    previous = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)
    try:
        return _probe(KafkaAdminClient, bootstrap, int(timeout * 1000))
    finally:
        kafka_log.setLevel(previous)


def _probe(admin_class: Any, bootstrap: str, ms: int) -> bool:
    try:
        admin = admin_class(
            bootstrap_servers=bootstrap,
            client_id="privtrail-stack-probe",
            request_timeout_ms=ms,
            bootstrap_timeout_ms=ms,
        )
    except Exception:  # any failure to bootstrap means "not answering yet"
        return False
    try:
        admin.list_topics()  # a MetadataRequest for all topics
        # Metadata can answer a moment before the broker is unfenced; until then topic
        # creation fails, so wait for an unfenced broker too.
        brokers = admin.describe_cluster().get("brokers") or []
        return any(not broker.get("is_fenced", False) for broker in brokers)
    except Exception:
        return False
    finally:
        admin.close()


class KafkaServer(ManagedServer):
    """Start, stop and probe the local broker. Data stays on disk across stop/start."""

    name = "Kafka"
    start_timeout = START_TIMEOUT
    probe_timeout = 3.0
    poll_interval = 0.2

    def __init__(self, *, home: Path, cache: Path, port: int, controller_port: int) -> None:
        self.home = home
        self.cache = cache
        self.port = port
        self.controller_port = controller_port
        self.config_dir = home / "kafka"
        self.data_dir = self.config_dir / "data"
        self.config_path = self.config_dir / "server.properties"
        self.log_file = home / "logs" / "kafka.log"
        self.out_file = home / "logs" / "kafka.out"
        self.cds_pending = self.config_dir / "kafka-cds.jsa"  # written at the JVM's exit
        # The config path is unique to this home: it proves a pid is our broker.
        self.process = ManagedProcess(
            "Kafka", PidFile(home / "run" / "kafka.pid", marker=str(self.config_path))
        )

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def config(self) -> KafkaConfig:
        return KafkaConfig(
            port=self.port, controller_port=self.controller_port, data_dir=self.data_dir
        )

    def _launch(self) -> None:
        ports = {"kafka": self.port, "kafka_controller": self.controller_port}
        require_free(ports, "Kafka", grace=3.0)
        java = find_java()
        libs = kafka_jars.ensure_jars(self.cache, log=self.home / "logs" / "maven.log")
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config().render())
        log4j = self.config_dir / "log4j2.xml"
        log4j.write_text(render_log4j2(self.log_file))
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "meta.properties").exists():
            self._format(java)
        argv = [
            java.path,
            *settings.kafka_heap_opts(),
            *archive_flags(libs, java, self.cds_pending),
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp",
            kafka_jars.classpath(self.cache),
            kafka_jars.BROKER_MAIN,
            str(self.config_path),
        ]
        self.process.spawn(argv, cwd=self.config_dir, log_path=self.out_file, env=os.environ)

    def _format(self, java: JavaRuntime) -> None:
        """Format the KRaft storage once; ``meta.properties`` marks it done."""
        argv = [
            java.path,
            "-Xmx256m",
            f"-Dlog4j2.configurationFile={self.config_dir / 'log4j2.xml'}",
            "-cp",
            kafka_jars.classpath(self.cache),
            kafka_jars.STORAGE_TOOL,
            "format",
            "--ignore-formatted",
            "-t",
            new_cluster_id(),
            "-c",
            str(self.config_path),
        ]
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()
            last = output[-1] if output else "no output"
            raise StackError(f"formatting Kafka storage in {self.data_dir} failed: {last}")

    def _answers(self, timeout: float) -> bool:
        return metadata_answers(self.bootstrap, timeout=timeout)

    def _exited_hint(self) -> str:
        return f"see {self.log_file} and {self.out_file}{_last_line(self.out_file)}"

    def _silent_hint(self, timeout: float) -> str:
        return (
            f"Kafka did not answer a metadata request on {self.bootstrap} within "
            f"{timeout:.0f} s; see {self.log_file}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Controlled shutdown (SIGTERM); False when it was not running."""
        stopped = self.process.stop(timeout)
        # Only an archive the JVM finished writing at a clean exit is worth keeping.
        if self.process.last_stop_forced:
            self.cds_pending.unlink(missing_ok=True)
        elif stopped and self.cds_pending.exists() and kafka_jars.jars_ready(self.cache):
            publish_archive(self.cds_pending, kafka_jars.libs_dir(self.cache), find_java())
        return stopped

    def kill(self) -> bool:
        """SIGKILL, as in a crash; the next start recovers the logs."""
        killed = self.process.kill()
        self.cds_pending.unlink(missing_ok=True)  # maybe cut off mid-write
        return killed


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f" (last line: {lines[-1].strip()[:300]})" if lines else ""
