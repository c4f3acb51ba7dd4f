"""The Java runtime for the broker, and its class-data-sharing (AppCDS) archive.

A cold broker JVM spends most of its start loading and verifying a few thousand classes;
on the shared 2-core machines that took 12-14 s under load, and 6 s with a CDS archive
(measured side by side, same run). Java 17 can write such an archive when a JVM exits
(``-XX:ArchiveClassesAtExit``) and map it on later starts (``-XX:SharedArchiveFile``).

The archive is only valid for one JVM build and one classpath, so it lives next to the
jars in the cache, named after the JVM's build string. The first broker of a cache writes
it into its own home at a clean exit; :func:`publish_archive` then moves it into the cache
(temporary name + rename, so readers never map half a file). A stale or foreign archive is
harmless: the JVM checks it and runs without it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from privtrail.errors import StackError
from privtrail.stack import settings

_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')
MIN_MAJOR = 17
# The archive's own log lines ("Skipping ... Not linked") are noise in kafka.out.
_QUIET = "-Xlog:cds*=off"


@dataclass(frozen=True, slots=True)
class JavaRuntime:
    """A usable ``java``: its path, major version, and ``java -version`` text."""

    path: str
    major: int
    version_text: str

    @property
    def build_id(self) -> str:
        """Short id of this exact JVM build (for naming its CDS archive)."""
        digest = hashlib.sha256(f"{self.path}\n{self.version_text}".encode()).hexdigest()
        return digest[:12]


def find_java(env: Mapping[str, str] | None = None) -> JavaRuntime:
    """A Java 17+ runtime; :class:`StackError` saying what to install otherwise."""
    java = settings.java_executable(env) or shutil.which("java")
    if java is None:
        raise StackError(
            "Java is not installed (no 'java' on PATH and no JAVA_HOME); install Java 17+ "
            "(e.g. apt-get install openjdk-17-jre-headless) to run the local Kafka broker"
        )
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"cannot run {java} -version: {exc}; Kafka needs Java 17+") from exc
    text = (result.stderr + result.stdout).strip()
    match = _JAVA_VERSION.search(text)
    if match is None:
        raise StackError(f"cannot tell the version of {java}; Kafka needs Java 17+")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    if major < MIN_MAJOR:
        raise StackError(
            f"{java} is Java {major}; Kafka {settings.KAFKA_VERSION} needs Java {MIN_MAJOR}+ "
            "(install it, or set JAVA_HOME to one)"
        )
    return JavaRuntime(path=java, major=major, version_text=text)


def shared_archive(libs: Path, java: JavaRuntime) -> Path:
    """Where the archive for ``java`` and the jars in ``libs`` lives (next to ``libs``)."""
    return libs.parent / f"kafka-cds-{java.build_id}.jsa"


def archive_flags(libs: Path, java: JavaRuntime, pending: Path) -> list[str]:
    """JVM flags: map the shared archive if there is one, else write one to ``pending``."""
    shared = shared_archive(libs, java)
    if shared.exists():
        return [f"-XX:SharedArchiveFile={shared}", _QUIET]
    pending.unlink(missing_ok=True)
    return [f"-XX:ArchiveClassesAtExit={pending}", _QUIET]


def publish_archive(pending: Path, libs: Path, java: JavaRuntime) -> bool:
    """Move an archive written at JVM exit into the cache; True if one was published."""
    if not pending.exists() or pending.stat().st_size == 0:
        return False
    shared = shared_archive(libs, java)
    if shared.exists():
        pending.unlink(missing_ok=True)
        return False
    tmp = shared.with_name(f"{shared.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(pending, tmp)  # the cache may be on another filesystem
        tmp.replace(shared)
    except OSError:
        tmp.unlink(missing_ok=True)  # a cache we cannot write only costs start time
        return False
    finally:
        pending.unlink(missing_ok=True)
    return True
