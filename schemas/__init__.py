"""The released Avro schemas, shipped as package data ``privtrail.schemas``.

Every released version is a file named ``<name>.v<N>.avsc`` (``event.v1.avsc``,
``alert.v1.avsc``) and is never edited or deleted once released: a reader resolves a writer's
schema from the fingerprint in each message, so an old version must stay readable for as long
as messages written with it exist. See ``docs/event-contract.md``.

Only :mod:`importlib.resources` is used, so this works from a wheel, a zip or a source tree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

_FILE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.avsc$")


@dataclass(frozen=True, slots=True, order=True)
class SchemaFile:
    """One released schema file: its contract name (``event``), version and file name."""

    name: str
    version: int
    filename: str

    def text(self) -> str:
        """The file's JSON text, exactly as released."""
        return files(__name__).joinpath(self.filename).read_text(encoding="utf-8")

    def load(self) -> Any:
        """The file's parsed JSON (a fresh object on every call: callers may mutate it)."""
        return json.loads(self.text())


def schema_files() -> list[SchemaFile]:
    """Every released schema file, sorted by name then version.

    A ``.avsc`` file that does not follow ``<name>.v<N>.avsc`` is refused rather than skipped:
    a silently ignored file would be a released version no reader knows.
    """
    found: list[SchemaFile] = []
    for entry in files(__name__).iterdir():
        if not entry.name.endswith(".avsc"):
            continue
        match = _FILE.match(entry.name)
        if match is None:
            raise ValueError(
                f"schema file {entry.name!r} is not named <name>.v<N>.avsc; "
                "every released schema keeps its version in its name"
            )
        found.append(SchemaFile(match["name"], int(match["version"]), entry.name))
    return sorted(found)


def versions(name: str) -> list[SchemaFile]:
    """The released versions of one schema (``"event"``, ``"alert"``), oldest first."""
    return [f for f in schema_files() if f.name == name]


def latest(name: str) -> SchemaFile:
    """The newest released version of one schema; ``LookupError`` when there is none."""
    found = versions(name)
    if not found:
        raise LookupError(f"no released schema named {name!r} in privtrail.schemas")
    return found[-1]


__all__ = ["SchemaFile", "latest", "schema_files", "versions"]
