"""The broker's class-data-sharing archive: write once per cache, map afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from privtrail.stack.java import (
    JavaRuntime,
    archive_flags,
    find_java,
    publish_archive,
    shared_archive,
)

pytestmark = pytest.mark.unit

JAVA = JavaRuntime(path="/opt/jdk/bin/java", major=17, version_text='openjdk version "17.0.15"')


def test_build_id_depends_on_the_exact_jvm() -> None:
    other = JavaRuntime(path=JAVA.path, major=17, version_text='openjdk version "17.0.16"')
    assert JAVA.build_id != other.build_id
    assert len(JAVA.build_id) == 12


def test_first_start_writes_archive_then_later_starts_map_it(tmp_path: Path) -> None:
    libs = tmp_path / "cache" / "kafka-4.1.1" / "libs"
    libs.mkdir(parents=True)
    pending = tmp_path / "home" / "kafka-cds.jsa"
    pending.parent.mkdir()

    flags = archive_flags(libs, JAVA, pending)
    assert f"-XX:ArchiveClassesAtExit={pending}" in flags

    pending.write_bytes(b"archive bytes")  # what the JVM writes at a clean exit
    assert publish_archive(pending, libs, JAVA)
    assert not pending.exists()
    shared = shared_archive(libs, JAVA)
    assert shared.read_bytes() == b"archive bytes"
    assert shared.parent == libs.parent

    assert archive_flags(libs, JAVA, pending)[0] == f"-XX:SharedArchiveFile={shared}"


def test_empty_or_missing_archive_is_not_published(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    libs.mkdir()
    pending = tmp_path / "kafka-cds.jsa"
    assert not publish_archive(pending, libs, JAVA)
    pending.write_bytes(b"")
    assert not publish_archive(pending, libs, JAVA)
    assert not shared_archive(libs, JAVA).exists()


def test_existing_archive_is_kept(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    libs.mkdir()
    shared = shared_archive(libs, JAVA)
    shared.write_bytes(b"first")
    pending = tmp_path / "kafka-cds.jsa"
    pending.write_bytes(b"second")
    assert not publish_archive(pending, libs, JAVA)
    assert shared.read_bytes() == b"first"
    assert not pending.exists()


def test_installed_java_is_17_or_newer() -> None:
    java = find_java()  # the machine's Java: the stack's stated prerequisite
    assert java.major >= 17
