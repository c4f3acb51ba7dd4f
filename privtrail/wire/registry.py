"""Every released schema version, keyed by its fingerprint: the registry without a server.

A single-object message carries the fingerprint of the schema it was written with. A reader
looks that fingerprint up here, among the versions shipped in ``privtrail.schemas``, and
reads the body with Avro schema resolution into its own (latest) schema. Nothing is fetched
at run time, so decoding never waits on, or fails because of, a registry service.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastavro import parse_schema

from privtrail.errors import WireError
from privtrail.schemas import schema_files
from privtrail.wire.fingerprint import canonical_form, fingerprint_of


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One released version of one schema, parsed once."""

    name: str
    """Contract name: ``"event"`` or ``"alert"``."""
    version: int
    schema: Any = field(repr=False, compare=False)
    """The schema JSON as released (a private copy; do not mutate)."""
    canonical_form: str = field(repr=False)
    fingerprint: bytes
    """CRC-64-AVRO of the Parsing Canonical Form, 8 bytes little-endian (as on the wire)."""
    parsed: Any = field(repr=False, compare=False)
    """fastavro's parsed form, ready for ``schemaless_writer``/``schemaless_reader``."""

    @classmethod
    def build(cls, name: str, version: int, schema: Any) -> SchemaVersion:
        """Parse and fingerprint ``schema`` (a schema JSON value) once."""
        mine = copy.deepcopy(schema)
        return cls(
            name=name,
            version=version,
            schema=mine,
            canonical_form=canonical_form(mine),
            fingerprint=fingerprint_of(mine),
            # Parsed once here: fastavro then skips its own parsing on every read and write.
            parsed=parse_schema(copy.deepcopy(mine)),
        )

    @property
    def label(self) -> str:
        """``event.v1``: how messages and docs name this version."""
        return f"{self.name}.v{self.version}"


class SchemaRegistry:
    """Released schema versions by fingerprint and by name.

    Build it from explicit versions (tests do this with derived schemas) or take the bundled
    one with :meth:`bundled`. Two versions with the same fingerprint are refused: they would
    be the same schema on the wire (docs, defaults and aliases are not part of the
    fingerprint), so a release must change the schema's canonical form or not be a release.
    """

    def __init__(self, versions: Iterable[SchemaVersion]) -> None:
        self._by_fp: dict[bytes, SchemaVersion] = {}
        self._by_name: dict[str, list[SchemaVersion]] = {}
        for sv in versions:
            other = self._by_fp.get(sv.fingerprint)
            if other is not None:
                raise WireError(
                    f"schemas {other.label} and {sv.label} have the same fingerprint "
                    f"{sv.fingerprint.hex()}; a new version must change the canonical form"
                )
            same = self._by_name.setdefault(sv.name, [])
            if any(v.version == sv.version for v in same):
                raise WireError(f"schema {sv.label} is registered twice")
            self._by_fp[sv.fingerprint] = sv
            same.append(sv)
        for same in self._by_name.values():
            same.sort(key=lambda v: v.version)

    @classmethod
    def bundled(cls) -> SchemaRegistry:
        """Every version shipped in ``privtrail.schemas`` (the ``*.v<N>.avsc`` files)."""
        return cls(SchemaVersion.build(f.name, f.version, f.load()) for f in schema_files())

    def get(self, fingerprint: bytes) -> SchemaVersion | None:
        """The version with this fingerprint, or None."""
        return self._by_fp.get(fingerprint)

    def resolve(self, fingerprint: bytes, name: str) -> SchemaVersion:
        """The version of schema ``name`` with this fingerprint, or :class:`WireError`.

        The error names the fingerprint in hex (wire byte order) so an operator can find
        which producer runs a schema this reader does not ship.
        """
        sv = self._by_fp.get(fingerprint)
        if sv is None:
            raise WireError(
                f"unknown schema fingerprint {fingerprint.hex()}: not a released {name} "
                f"schema known to this reader (known: {self._known(name)})"
            )
        if sv.name != name:
            raise WireError(
                f"schema fingerprint {fingerprint.hex()} is {sv.label}, not a version of {name!r}"
            )
        return sv

    def versions(self, name: str) -> list[SchemaVersion]:
        """The versions of one schema, oldest first (empty when unknown)."""
        return list(self._by_name.get(name, ()))

    def latest(self, name: str) -> SchemaVersion:
        """The newest version of one schema: what writers use and readers resolve into."""
        found = self._by_name.get(name)
        if not found:
            raise WireError(f"no schema named {name!r} is registered")
        return found[-1]

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def _known(self, name: str) -> str:
        labels = [f"{v.label}={v.fingerprint.hex()}" for v in self._by_name.get(name, ())]
        return ", ".join(labels) or "none"

    def __iter__(self) -> Iterator[SchemaVersion]:
        return iter(self._by_fp.values())

    def __len__(self) -> int:
        return len(self._by_fp)

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self._by_fp


__all__ = ["SchemaRegistry", "SchemaVersion"]
