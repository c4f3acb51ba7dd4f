"""Apache Kafka's jars, downloaded once from Maven Central into the cache folder.

Several checkouts (and parallel test sessions) share one cache, so the download takes a
file lock and lands in a temporary folder that is renamed into place only when complete:
a reader sees either no ``libs`` folder or a complete one.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from string import Template

from privtrail.errors import StackError
from privtrail.stack.settings import KAFKA_VERSION

LOG4J_VERSION = "2.24.3"  # the log4j2 release Kafka 4.1 itself depends on
STORAGE_TOOL = "kafka.tools.StorageTool"
BROKER_MAIN = "kafka.Kafka"
_COMPLETE = ".complete"


def render_pom(kafka_version: str = KAFKA_VERSION, log4j_version: str = LOG4J_VERSION) -> str:
    template = resources.files("privtrail.stack").joinpath("kafka-pom.xml").read_text()
    return Template(template).substitute(kafka_version=kafka_version, log4j_version=log4j_version)


def libs_dir(cache: Path, kafka_version: str = KAFKA_VERSION) -> Path:
    return cache / f"kafka-{kafka_version}" / "libs"


def classpath(cache: Path, kafka_version: str = KAFKA_VERSION) -> str:
    """A ``-cp`` value with every jar (the JVM expands ``dir/*``)."""
    return str(libs_dir(cache, kafka_version) / "*")


def jars_ready(cache: Path, kafka_version: str = KAFKA_VERSION) -> bool:
    return (libs_dir(cache, kafka_version) / _COMPLETE).exists()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_jars(cache: Path, kafka_version: str = KAFKA_VERSION, log: Path | None = None) -> Path:
    """Return the folder with Kafka's runtime jars, downloading them with Maven if needed."""
    libs = libs_dir(cache, kafka_version)
    if jars_ready(cache, kafka_version):
        return libs
    with _locked(libs.parent / "download.lock"):
        if jars_ready(cache, kafka_version):  # another process finished while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(
                "Maven ('mvn') is not on PATH; install Maven 3.8+ (e.g. apt-get install maven) "
                f"so the stack can download Apache Kafka {kafka_version}, "
                f"or put the jars in {libs} yourself and create {libs / _COMPLETE}"
            )
        _download(mvn, libs, kafka_version, log)
    return libs


def _download(mvn: str, libs: Path, kafka_version: str, log: Path | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="download-", dir=libs.parent))
    try:
        (work / "pom.xml").write_text(render_pom(kafka_version))
        argv = [
            mvn,
            "-q",
            "-B",
            "dependency:copy-dependencies",
            "-DoutputDirectory=libs",
            "-DincludeScope=runtime",
        ]
        result = subprocess.run(argv, cwd=work, capture_output=True, text=True, check=False)
        output = (result.stdout + result.stderr).strip()
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(output + "\n")
        jars = list((work / "libs").glob("*.jar"))
        if result.returncode != 0 or not jars:
            last = output.splitlines()[-1] if output else "no output"
            where = f" (full output in {log})" if log is not None else ""
            raise StackError(
                f"downloading Apache Kafka {kafka_version} with Maven failed{where}: {last}; "
                "check network access to Maven Central (or a mirror in ~/.m2/settings.xml) "
                "and run 'privtrail stack up' again"
            )
        names = {jar.name for jar in jars}
        if f"kafka_2.13-{kafka_version}.jar" not in names:
            raise StackError(f"Maven did not fetch kafka_2.13-{kafka_version}.jar into {work}")
        (work / "libs" / _COMPLETE).write_text(f"kafka_2.13 {kafka_version}\n")
        if libs.exists():  # an incomplete folder left by an older, interrupted download
            shutil.rmtree(libs)
        (work / "libs").rename(libs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
