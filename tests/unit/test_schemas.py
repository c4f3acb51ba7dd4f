"""The released schema files: invariants, agreement with events.py, and compatibility.

Compatibility is judged by the official ``avro`` package's checker. Every pair of consecutive
released versions must read each other (full compatibility). While only v1 exists, derived
changes prove the check works: one that must pass, and several that must be flagged.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any, get_args

import avro.schema
import fastavro
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from privtrail.alerts import SEVERITIES
from privtrail.errors import WireError
from privtrail.events import EVENT_TYPES, ActorKind, DestructionReason, VerifiedAs, parse_event
from privtrail.schemas import SchemaFile, latest, schema_files, versions
from privtrail.wire import SchemaRegistry, SchemaVersion, event_to_record, record_to_event
from privtrail.wire.codec import EVENT_VERSION, MAGIC, frame, read_record
from privtrail.wire.records import contract_mismatches

pytestmark = pytest.mark.unit

FILES = schema_files()
NAMES = sorted({f.name for f in FILES})
TOP_LEVEL = {"event": "privtrail.Event", "alert": "privtrail.Alert"}


def compatible(reader: Any, writer: Any) -> bool:
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer))
    )
    return result.compatibility is SchemaCompatibilityType.compatible


def consecutive_pairs() -> list[tuple[SchemaFile, SchemaFile]]:
    pairs = []
    for name in NAMES:
        found = versions(name)
        pairs.extend(zip(found, found[1:], strict=False))
    return pairs


# --- file invariants ------------------------------------------------------------------------


def test_the_contract_schemas_are_released() -> None:
    assert set(NAMES) >= {"event", "alert"}
    assert set(NAMES) <= set(TOP_LEVEL), "a new schema needs its top-level name listed here"


@pytest.mark.parametrize("name", NAMES)
def test_versions_are_contiguous_from_one(name: str) -> None:
    # A gap would mean a released version was deleted: its messages could no longer be read.
    assert [f.version for f in versions(name)] == list(range(1, len(versions(name)) + 1))


@pytest.mark.parametrize("f", FILES, ids=lambda f: f.filename)
def test_file_parses_with_both_libraries_and_names_its_record(f: SchemaFile) -> None:
    schema = f.load()
    fastavro.parse_schema(copy.deepcopy(schema))
    assert avro.schema.parse(f.text()).fullname == TOP_LEVEL[f.name]
    assert f"{schema['namespace']}.{schema['name']}" == TOP_LEVEL[f.name]


def _fields(schema: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every (path, field) of every record in the schema."""
    out: list[tuple[str, dict[str, Any]]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch, path)
        elif isinstance(node, dict):
            if node.get("type") == "record":
                for field in node["fields"]:
                    out.append((f"{path}{node['name']}.{field['name']}", field))
                    walk(field["type"], path)
            elif node.get("type") == "array":
                walk(node["items"], path)

    walk(schema, "")
    return out


@pytest.mark.parametrize("f", FILES, ids=lambda f: f.filename)
def test_unions_are_optional_fields_with_null_default(f: SchemaFile) -> None:
    for path, field in _fields(f.load()):
        assert field.get("doc"), f"{path} has no doc"
        kind = field["type"]
        if isinstance(kind, list) and "null" in kind:
            assert kind[0] == "null" and len(kind) == 2, f"{path}: optional is ['null', T]"
            assert "default" in field and field["default"] is None, f"{path}: default null"
        elif isinstance(kind, list):
            assert path == "Event.payload", f"{path}: only the payload is a non-null union"


def _enums(schema: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if node.get("type") == "enum":
                found[node["name"]] = node["symbols"]
            for value in node.values():
                walk(value)

    walk(schema)
    return found


def test_event_enums_match_the_models() -> None:
    enums = _enums(latest("event").load())
    assert enums == {
        "EventType": list(EVENT_TYPES),
        "ActorKind": list(get_args(ActorKind)),
        "VerifiedAs": list(get_args(VerifiedAs)),
        "DestructionReason": list(get_args(DestructionReason)),
    }


def test_alert_severity_matches_alerts_py() -> None:
    assert _enums(latest("alert").load()) == {"Severity": list(SEVERITIES)}


def test_event_schema_matches_the_models() -> None:
    assert contract_mismatches() == []


def test_bundled_registry_has_every_file_once() -> None:
    registry = SchemaRegistry.bundled()
    assert len(registry) == len(FILES)
    assert {sv.label for sv in registry} == {f"{f.name}.v{f.version}" for f in FILES}


# --- compatibility of the released versions -------------------------------------------------


# Releases that add an event type (a payload branch): the old cannot read the new, by design,
# and consumers must upgrade before producers. List such a release here, by file name, with
# the reason; everything else must be fully compatible.
READER_FIRST: dict[str, str] = {}


def test_consecutive_released_versions_read_each_other() -> None:
    problems = []
    for old, new in consecutive_pairs():
        if not compatible(new.load(), old.load()):
            problems.append(f"{new.filename} cannot read {old.filename}")
        if new.filename not in READER_FIRST and not compatible(old.load(), new.load()):
            problems.append(f"{old.filename} cannot read {new.filename}")
    assert problems == []


def test_reader_first_entries_name_released_files() -> None:
    assert set(READER_FIRST) <= {f.filename for f in FILES}


def test_schema_files_refuses_a_file_without_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import privtrail.schemas as package

    (tmp_path / "event.v1.avsc").write_text("{}")
    (tmp_path / "event.v2.avsc").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    monkeypatch.setattr(package, "files", lambda _name: tmp_path)
    assert [(f.name, f.version) for f in package.schema_files()] == [("event", 1), ("event", 2)]
    (tmp_path / "event.avsc").write_text("{}")
    with pytest.raises(ValueError, match="'event.avsc' is not named <name>.v<N>.avsc"):
        package.schema_files()


@pytest.mark.parametrize("f", FILES, ids=lambda f: f.filename)
def test_each_version_reads_itself(f: SchemaFile) -> None:
    assert compatible(f.load(), f.load())


# --- derived changes: the checker must tell compatible from incompatible --------------------


def _v1() -> Any:
    return versions("event")[0].load()


def _header(schema: Any, name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def _add_nullable(schema: Any) -> Any:
    new = copy.deepcopy(schema)
    new["fields"].insert(
        -1,
        {"name": "trace_id", "type": ["null", "string"], "default": None, "doc": "Tracing id"},
    )
    return new


def test_checker_accepts_a_nullable_field_with_default() -> None:
    v1, v2 = _v1(), _add_nullable(_v1())
    assert compatible(v2, v1) and compatible(v1, v2)


def test_checker_flags_a_field_without_default() -> None:
    v1 = _v1()
    v2 = copy.deepcopy(v1)
    v2["fields"].insert(-1, {"name": "trace_id", "type": "string", "doc": "Tracing id"})
    assert not compatible(v2, v1)  # new cannot read old: no value for trace_id
    assert compatible(v1, v2)  # old ignores the field: this alone would not catch it


def test_checker_flags_a_renamed_field() -> None:
    v1 = _v1()
    v2 = copy.deepcopy(v1)
    _header(v2, "subject_key_id")["name"] = "key_id"
    _header(v2, "event_id")["name"] = "id"
    assert not compatible(v2, v1)


def test_checker_flags_a_removed_enum_symbol() -> None:
    v1 = _v1()
    v2 = copy.deepcopy(v1)
    _header(v2, "actor")["type"]["fields"][0]["type"]["symbols"].remove("third_party")
    assert not compatible(v2, v1)


def test_a_new_event_type_is_a_reader_first_change() -> None:
    # New payload branch + enum symbol: new readers read old data, old readers cannot read
    # new data. The docs say so; this test keeps the docs honest.
    v1 = _v1()
    v2 = copy.deepcopy(v1)
    _header(v2, "type")["type"]["symbols"].append("exported")
    _header(v2, "payload")["type"].append(
        {"type": "record", "name": "ExportedPayload", "fields": [], "doc": "x"}
    )
    assert compatible(v2, v1)
    assert not compatible(v1, v2)


# --- resolution by our decoder between two versions -------------------------------------------

EVENT = parse_event(
    {
        "event_id": "evt-0001",
        "type": "consent_withdrawn",
        "occurred_at": "2026-03-01T09:30:00Z",
        "source": {"service": "web"},
        "actor": {"kind": "subject", "id": "subj-9a1f"},
        "subject_id": "subj-9a1f",
        "scope": "marketing",
    }
)


def test_a_reader_resolves_an_older_and_a_newer_writer() -> None:
    v1 = EVENT_VERSION
    v2 = SchemaVersion.build("event", 2, _add_nullable(v1.schema))
    registry = SchemaRegistry([v1, v2])
    assert registry.latest("event") is v2

    # A v2 producer (with the new field set) read by a v1 consumer: the field is dropped.
    out = io.BytesIO()
    fastavro.schemaless_writer(out, v2.parsed, {**event_to_record(EVENT), "trace_id": "t-1"})
    newer = frame(v2.fingerprint, out.getvalue())
    assert newer[:2] == MAGIC
    assert record_to_event(read_record(newer, "event", v1, registry)) == EVENT

    # A v1 producer read by a v2 consumer: the new field takes its default.
    older = frame(v1.fingerprint, _body(v1, EVENT))
    record = read_record(older, "event", v2, registry)
    assert record.pop("trace_id") is None
    assert record_to_event(record) == EVENT


def _body(version: SchemaVersion, event: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, version.parsed, event_to_record(event))
    return out.getvalue()


def test_registry_refuses_two_versions_with_one_fingerprint() -> None:
    v1 = EVENT_VERSION
    reworded = copy.deepcopy(v1.schema)
    reworded["doc"] = "only the doc changed"
    with pytest.raises(WireError, match="same fingerprint"):
        SchemaRegistry([v1, SchemaVersion.build("event", 2, reworded)])


def test_an_unresolvable_writer_is_a_wire_error() -> None:
    v1 = EVENT_VERSION
    broken = copy.deepcopy(v1.schema)
    _header(broken, "event_id")["type"] = "long"  # incompatible: the reader wants a string
    v2 = SchemaVersion.build("event", 2, broken)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, v2.parsed, {**event_to_record(EVENT), "event_id": 7})
    with pytest.raises(WireError, match="cannot read event.v2 as event.v1"):
        read_record(frame(v2.fingerprint, out.getvalue()), "event", v1, SchemaRegistry([v1, v2]))
