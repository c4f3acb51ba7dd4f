"""Versioned, idempotent schema migrations for the ``privtrail`` database.

Each file ``ddl/NNNN_name.sql`` is one migration; they apply in version order and each applied
version is recorded in ``privtrail.schema_migrations`` with the file's SHA-256, so running
``privtrail db migrate`` twice is a no-op, and an already-applied file that was edited
afterwards is reported instead of silently diverging. The statements themselves use
``IF NOT EXISTS`` too (or ``MATERIALIZE``, which rebuilds the same projection or index), so a
migration interrupted between applying and recording is safe to re-run. Migrations never
update or delete rows: the history is append-only and tamper-evident.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from privtrail.errors import PrivtrailError

DATABASE = "privtrail"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOTSTRAP = (
    f"CREATE DATABASE IF NOT EXISTS {DATABASE}",
    f"""CREATE TABLE IF NOT EXISTS {DATABASE}.schema_migrations
    (
        version    UInt32,
        name       String,
        checksum   String,
        applied_at DateTime64(6, 'UTC') DEFAULT now64(6)
    )
    ENGINE = MergeTree ORDER BY version""",
)


class MigrationError(PrivtrailError):
    """A migration file is malformed, or differs from the version already applied."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """The file's statements, split on ``;`` at line ends (DDL holds no such literal)."""
        body = "\n".join(
            line for line in self.sql.splitlines() if not line.lstrip().startswith("--")
        )
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def load_migrations() -> list[Migration]:
    """Every ``ddl/*.sql`` file shipped with the package, in version order."""
    out: list[Migration] = []
    seen: set[int] = set()
    for entry in resources.files("privtrail.sinks").joinpath("ddl").iterdir():
        match = _FILE.match(entry.name)
        if not match:
            if entry.name.endswith(".sql"):
                raise MigrationError(f"ddl/{entry.name}: name must look like 0001_name.sql")
            continue
        version = int(match.group(1))
        if version in seen:
            raise MigrationError(f"ddl/{entry.name}: version {version} appears twice")
        seen.add(version)
        out.append(Migration(version, match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(out, key=lambda m: m.version)


def applied_versions(client: Any) -> dict[int, str]:
    """Version -> checksum of what ``schema_migrations`` records as applied."""
    result = client.query(f"SELECT version, checksum FROM {DATABASE}.schema_migrations")
    return {int(v): str(c) for v, c in result.result_rows}


def migrate(client: Any, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply every migration not yet recorded, as an admin client; returns those applied.

    ``client`` is a clickhouse-connect client with DDL rights (the ``admin`` user).
    """
    for statement in _BOOTSTRAP:
        client.command(statement)
    todo = load_migrations() if migrations is None else migrations
    done = applied_versions(client)
    applied: list[Migration] = []
    for migration in todo:
        recorded = done.get(migration.version)
        if recorded is not None:
            if recorded != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} was changed after it "
                    "was applied; add a new migration file instead of editing an applied one"
                )
            continue
        for statement in migration.statements():
            client.command(statement)
        client.insert(
            f"{DATABASE}.schema_migrations",
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
        applied.append(migration)
    return applied
