"""The query catalog without a server: headers agree with placeholders, parameters are checked
and converted, the policy fills its parameters, and the renderings are exact."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources

import pytest

from privtrail.events import looks_personal
from privtrail.policy import default_policy
from privtrail.queries import (
    ParameterError,
    QueryDefinitionError,
    QueryResult,
    UnknownQueryError,
    bind,
    list_queries,
    load_query,
    policy_parameters,
    query_names,
)
from privtrail.queries.catalog import PLACEHOLDER, parse_query
from privtrail.queries.formats import to_csv, to_json, to_markdown
from privtrail.queries.types import convert, parse_instant

pytestmark = pytest.mark.unit

EXPECTED = [
    "access_report", "access_review", "correction_propagation", "deadlines", "disclosures",
    "processing_register", "retention_status", "subject_state_as_of", "subject_timeline",
    "violations",
]  # fmt: skip
DT = "DateTime64(6, 'UTC')"


def test_catalog_lists_every_investigation() -> None:
    assert query_names() == EXPECTED
    assert [q.name for q in list_queries()] == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_every_file_has_question_duty_and_documented_parameters(name: str) -> None:
    q = load_query(name)
    assert q.question.endswith("?")
    assert len(q.duty) > 20
    assert {p.name for p in q.params} == {m[0] for m in PLACEHOLDER.findall(q.sql)}
    assert all(p.description for p in q.params)


@pytest.mark.parametrize("name", EXPECTED)
def test_sql_never_formats_strings_and_holds_no_personal_values(name: str) -> None:
    sql = load_query(name).sql
    assert "%s" not in sql and "%(" not in sql
    # Vocabulary belongs to the policy: no processor name is written into the SQL.
    for processor in default_policy().processors:
        assert processor not in sql
    assert not any(looks_personal(word) for word in re.findall(r"[\w@.+-]+", sql))


def test_the_policy_parameters_are_marked() -> None:
    marked = {p.name for q in list_queries() for p in q.params if p.from_policy}
    assert marked == set(policy_parameters(default_policy()))


def test_unknown_query() -> None:
    with pytest.raises(UnknownQueryError) as err:
        load_query("drop_everything")
    assert err.value.name == "drop_everything"
    assert "subject_timeline" in str(err.value)


HEADER = "-- Question: Why?\n-- Duty: a duty of care\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- Duty: x\nSELECT 1", "lacks a '-- Question:' line"),
        ("-- Question: q?\nSELECT 1", "lacks a '-- Duty:' line"),
        (HEADER + "SELECT {a:String}", "{a:String} is not in the header"),
        (
            HEADER + "-- Param a: UInt32 -- a number\nSELECT {a:String}",
            "header says a is UInt32, the SQL uses String",
        ),
        (HEADER + "-- Param a: String -- text\nSELECT 1", "header parameter 'a' is never used"),
        (
            HEADER + "-- Param a: String -- text\nSELECT {a:String}, {a:UInt32}",
            "used with two types",
        ),
        (HEADER + "-- Param a: Float64 -- x\nSELECT {a:Float64}", "type Float64 is not supported"),
        (
            HEADER + "-- Param a: String -- x\n-- Param a: String -- y\nSELECT {a:String}",
            "declared twice",
        ),
    ],
)
def test_malformed_headers_are_refused(text: str, message: str) -> None:
    with pytest.raises(QueryDefinitionError) as err:
        parse_query("bad", text)
    assert message in str(err.value)


def test_header_parsing() -> None:
    q = parse_query(
        "ok",
        "-- Question: Who\n--   did it?\n-- Duty: rule X\n"
        "-- Param who: String -- a pseudonym\n"
        "-- Param days: UInt32 [policy] -- from the policy\n"
        "SELECT {who:String}, {days: UInt32}",
    )
    assert q.question == "Who did it?"
    assert q.duty == "rule X"
    assert [(p.name, p.type, p.from_policy) for p in q.params] == [
        ("who", "String", False), ("days", "UInt32", True),
    ]  # fmt: skip


def test_bind_checks_missing_extra_and_types() -> None:
    q = load_query("subject_state_as_of")
    assert bind(q, {"subject": "ps_x", "as_of": "2019-03-01T09:00:00+09:00"}) == {
        "subject": "ps_x",
        "as_of": "2019-03-01 00:00:00.000000",
    }
    with pytest.raises(ParameterError, match="parameter 'as_of': missing"):
        bind(q, {"subject": "ps_x"})
    with pytest.raises(ParameterError, match="parameter 'extra': unexpected"):
        bind(q, {"subject": "ps_x", "as_of": "2019-03-01", "extra": 1})
    with pytest.raises(ParameterError, match="parameter 'subject': expected text, got int"):
        bind(q, {"subject": 7, "as_of": "2019-03-01"})
    with pytest.raises(ParameterError, match="has no time zone"):
        bind(q, {"subject": "ps_x", "as_of": datetime(2019, 3, 1)})


def test_bind_takes_defaults_only_for_declared_parameters_and_values_win() -> None:
    q = load_query("disclosures")
    out = bind(q, {"from": "2019-01-01", "to": "2019-02-01", "processors": "a, b"},
               {"processors": ["x"], "grace_days": 5})  # fmt: skip
    assert out["processors"] == ["a", "b"]
    assert "grace_days" not in out


def test_hostile_text_is_kept_verbatim_for_server_binding() -> None:
    hostile = "'; DROP TABLE privtrail.events; --"
    assert bind(load_query("subject_timeline"), {"subject": hostile}) == {"subject": hostile}


@pytest.mark.parametrize(
    ("type_name", "value", "expected"),
    [
        ("UInt32", "10", 10),
        ("UInt32", 0, 0),
        (DT, "2019-03-04", "2019-03-04 00:00:00.000000"),
        (DT, "2019-03-04T09:30:00.5+09:00", "2019-03-04 00:30:00.500000"),
        (
            DT,
            datetime(2019, 3, 4, tzinfo=timezone(timedelta(hours=9))),
            "2019-03-03 15:00:00.000000",
        ),
        ("Array(String)", "a,b", ["a", "b"]),
        ("Array(String)", "", []),
        ("Array(UInt32)", [1, "2"], [1, 2]),
        ("Array(Tuple(String, String))", "p:i,q:j", [("p", "i"), ("q", "j")]),
        ("Array(Tuple(String, String))", [["p", "i"]], [("p", "i")]),
    ],
)
def test_convert(type_name: str, value: object, expected: object) -> None:
    assert convert(type_name, value) == expected


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("UInt32", -1), ("UInt32", "1.5"), ("UInt32", True), ("UInt32", 2**32),
        (DT, "2019-03-04T10:00"), (DT, "soon"), (DT, 5),
        ("Array(String)", 5), ("Array(String)", ["a", 1]),
        ("Array(Tuple(String, String))", "nocolon"), ("String", None),
    ],
)  # fmt: skip
def test_convert_refuses(type_name: str, value: object) -> None:
    with pytest.raises(ValueError):
        convert(type_name, value)


def test_parse_instant_is_utc() -> None:
    assert parse_instant("2019-03-04T09:30:00Z") == datetime(2019, 3, 4, 9, 30, tzinfo=UTC)


def test_policy_parameters_from_colabox() -> None:
    p = policy_parameters(default_policy())
    assert p["processors"] == ["benchmark_email", "google_analytics", "lguplus", "salesforce"]
    assert p["retention_items"] == [
        "complaint_record", "contract_record", "payment_record", "service_usage_record",
        "web_visit_record",
    ]  # fmt: skip
    assert p["retention_months"] == [36, 60, 60, 12, 3]
    assert (p["grace_days"], p["access_days"], p["correction_days"], p["notify_days"]) == (
        5, 10, 10, 10,
    )  # fmt: skip
    assert ("google_analytics", "service_improvement") in p["entrusted"]
    assert ("marketing", "email") in p["declared_items"]
    assert ("marketing", "user_id") not in p["declared_items"]


RESULT = QueryResult(
    ("when", "items", "note", "n"),
    [
        (datetime(2019, 3, 4, 0, 30, tzinfo=UTC), ["a", "b"], "x|y", 1),
        (None, [], 'say "hi"', 2),
    ],
)


def test_csv() -> None:
    assert to_csv(RESULT) == (
        'when,items,note,n\n2019-03-04T00:30:00Z,"[""a"", ""b""]",x|y,1\n,[],"say ""hi""",2\n'
    )


def test_json() -> None:
    assert json.loads(to_json(RESULT)) == [
        {"when": "2019-03-04T00:30:00Z", "items": ["a", "b"], "note": "x|y", "n": 1},
        {"when": None, "items": [], "note": 'say "hi"', "n": 2},
    ]


def test_markdown_escapes_pipes() -> None:
    assert to_markdown(RESULT) == (
        "| when | items | note | n |\n|---|---|---|---|\n"
        '| 2019-03-04T00:30:00Z | ["a", "b"] | x\\|y | 1 |\n'
        '|  | [] | say "hi" | 2 |\n'
    )


def test_sql_files_are_package_data() -> None:
    names = sorted(
        e.name for e in resources.files("privtrail.queries").iterdir() if e.name.endswith(".sql")
    )
    assert names == [f"{n}.sql" for n in EXPECTED]
