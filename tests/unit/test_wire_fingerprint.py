"""Parsing Canonical Form and CRC-64-AVRO: ours against the spec's vectors, fastavro and avro."""

from __future__ import annotations

import copy
import json
from typing import Any

import avro.schema
import fastavro.schema
import pytest

from privtrail.schemas import schema_files
from privtrail.wire import ALERT_SCHEMA, EVENT_SCHEMA, canonical_form, fingerprint_of
from privtrail.wire.fingerprint import rabin64

pytestmark = pytest.mark.unit

# (schema text, canonical form, fingerprint as Java's signed long), a selection of the test
# vectors the Avro project publishes in share/test/data/schema-tests.txt.
SPEC_VECTORS: list[tuple[str, str, int]] = [
    ('"null"', '"null"', 7195948357588979594),
    ('"boolean"', '"boolean"', -6970731678124411036),
    ('"int"', '"int"', 8247732601305521295),
    ('{"type":"int"}', '"int"', 8247732601305521295),
    ('"long"', '"long"', -3434872931120570953),
    ('"string"', '"string"', -8142146995180207161),
    ("[  ]", "[]", -1241056759729112623),
    ('[ "int" , {"type":"boolean"} ]', '["int","boolean"]', 5392556393470105090),
    (
        '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
        '{"name":"x.y.foo","type":"record","fields":[]}',
        5916914534497305771,
    ),
    (
        '{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}',
        '{"name":"a.b.foo","type":"record","fields":[]}',
        -4616218487480524110,
    ),
    (
        '{"fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},'
        '{"order":"descending","name":"f2","doc":"Hello","type":"int"}],'
        '"type":"record", "name":"foo"}',
        '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},'
        '{"name":"f2","type":"int"}]}',
        -4860222112080293046,
    ),
    (
        '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar",'
        ' "symbols":["A1", "A2"]}',
        '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
        -4448647247586288245,
    ),
    (
        '{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}',
        '{"name":"x.y.z.foo","type":"fixed","size":32}',
        -3064184465700546786,
    ),
    (
        '{ "items":{"type":"null"}, "type":"array"}',
        '{"type":"array","items":"null"}',
        -589620603366471059,
    ),
    (
        '{ "values":"string", "type":"map"}',
        '{"type":"map","values":"string"}',
        -8732877298790414990,
    ),
    (
        '{"name":"PigValue","type":"record",'
        '"fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
        '{"name":"PigValue","type":"record","fields":[{"name":"value",'
        '"type":["null","int","long","PigValue"]}]}',
        -1759257747318642341,
    ),
]


def _wire(signed: int) -> bytes:
    return (signed & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "little")


@pytest.mark.parametrize(("text", "canonical", "signed"), SPEC_VECTORS)
def test_spec_vectors(text: str, canonical: str, signed: int) -> None:
    assert canonical_form(text) == canonical
    assert fingerprint_of(text) == _wire(signed)
    assert fingerprint_of(json.loads(text)) == _wire(signed)
    # Both libraries agree with the spec on these (none has a logical type).
    assert fastavro.schema.fingerprint(canonical, "CRC-64-AVRO") == _wire(signed).hex()
    assert avro.schema.parse(text).fingerprint("CRC-64-AVRO") == _wire(signed)


def test_int_fingerprint_known_value() -> None:
    assert fingerprint_of("int").hex() == "8f5c393f1ad57572"
    assert rabin64(b'"int"') == 8247732601305521295


def test_rabin_of_empty_input_is_the_spec_empty_value() -> None:
    assert rabin64(b"") == 0xC15D213AA4D7A795


def _without_logical_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(v) for v in schema]
    return schema


@pytest.mark.parametrize("f", schema_files(), ids=lambda f: f.filename)
def test_released_schemas_agree_with_both_libraries(f: Any) -> None:
    schema = f.load()
    ours = canonical_form(schema)
    assert ours == fastavro.schema.to_parsing_canonical_form(copy.deepcopy(schema))
    assert fingerprint_of(schema).hex() == fastavro.schema.fingerprint(ours, "CRC-64-AVRO")
    # avro 1.12 writes a logical-typed long as {"type":"long"} in its canonical form, against
    # the spec's [PRIMITIVES] rule; with logical types removed (they are stripped by the spec
    # anyway) it must agree with us exactly.
    plain = avro.schema.parse(json.dumps(_without_logical_types(schema)))
    assert plain.canonical_form == ours
    assert plain.fingerprint("CRC-64-AVRO") == fingerprint_of(schema)


def test_avro_package_still_differs_on_logical_types() -> None:
    # Documents why fingerprint.py exists. If avro fixes this, the test tells us, and the docs'
    # remark about the avro package can go.
    full = avro.schema.parse(json.dumps(EVENT_SCHEMA))
    assert '{"type":"long"}' in full.canonical_form
    assert full.fingerprint("CRC-64-AVRO") != fingerprint_of(EVENT_SCHEMA)


def test_docs_and_defaults_do_not_change_the_fingerprint() -> None:
    changed = copy.deepcopy(ALERT_SCHEMA)
    changed["doc"] = "reworded"
    changed["fields"][3]["doc"] = "reworded"
    assert fingerprint_of(changed) == fingerprint_of(ALERT_SCHEMA)
    changed["fields"][0]["name"] = "id"
    assert fingerprint_of(changed) != fingerprint_of(ALERT_SCHEMA)


def test_nested_names_take_the_enclosing_namespace() -> None:
    schema = {
        "type": "record",
        "name": "Outer",
        "namespace": "a.b",
        "fields": [
            {"name": "x", "type": {"type": "enum", "name": "Kind", "symbols": ["one"]}},
            {"name": "y", "type": "Kind"},
            {"name": "z", "type": {"type": "fixed", "name": "c.Hash", "size": 4}},
        ],
    }
    assert canonical_form(schema) == (
        '{"name":"a.b.Outer","type":"record","fields":['
        '{"name":"x","type":{"name":"a.b.Kind","type":"enum","symbols":["one"]}},'
        '{"name":"y","type":"a.b.Kind"},'
        '{"name":"z","type":{"name":"c.Hash","type":"fixed","size":4}}]}'
    )
    assert canonical_form(schema) == fastavro.schema.to_parsing_canonical_form(schema)
