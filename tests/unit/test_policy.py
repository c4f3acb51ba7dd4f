"""The policy as code: the bundled COLABOX policy, the loader's errors, durations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fixtures.evfactory import Factory
from hypothesis import given
from hypothesis import strategies as st

from privtrail.errors import PolicyError
from privtrail.policy import Duration, Policy, default_policy, load_policy, parse_policy

pytestmark = pytest.mark.unit

BAD = Path(__file__).parent / "fixtures" / "policies"
BUNDLED = Path(__file__).parents[2] / "privtrail" / "policy" / "colabox.yaml"


# -- the bundled policy: the vocabulary of issue 3 §2, exactly ------------------------------


def test_vocabulary_ids() -> None:
    p = default_policy()
    assert p.items == [
        "company_name",
        "contact_name",
        "region",
        "phone",
        "email",
        "user_id",
        "service_usage_record",
        "contract_record",
        "payment_record",
        "complaint_record",
        "web_visit_record",
        "analytics_cookie",
    ]
    assert set(p.identifiers) == {"contact_name", "phone", "email", "user_id"}
    assert p.methods == ["inquiry_board", "event_entry", "service_use", "phone_fax", "cookie"]
    assert set(p.purposes) == {
        "contract_performance",
        "user_management",
        "service_improvement",
        "marketing",
        "legal_compliance",
    }
    assert p.exempt_purposes == ["legal_compliance"]
    assert p.destruction.methods == ["irrecoverable_delete", "shred", "incinerate"]


def test_contexts() -> None:
    c = default_policy().contexts
    assert set(c["product_inquiry"].items) == {
        "company_name",
        "contact_name",
        "region",
        "phone",
        "email",
    }
    assert set(c["product_inquiry"].purposes) == {
        "user_management",
        "contract_performance",
        "marketing",
    }
    assert set(c["tech_support"].items) == {
        "email",
        "contact_name",
        "company_name",
        "phone",
        "user_id",
    }
    assert set(c["service_use"].purposes) == {
        "contract_performance",
        "user_management",
        "service_improvement",
        "legal_compliance",
    }
    assert c["analytics"].items == ["analytics_cookie"]
    assert c["analytics"].purposes == ["service_improvement"]


def test_processors_and_third_parties() -> None:
    p = default_policy()
    assert {k for k in p.processors} == {
        "salesforce",
        "lguplus",
        "benchmark_email",
        "google_analytics",
    }
    assert p.is_processor("salesforce") and not p.is_processor("acme")
    assert p.processors["google_analytics"].items == ["analytics_cookie"]
    assert p.processors["salesforce"].items is None


def test_retention_rights_and_limits() -> None:
    p = default_policy()
    assert {k: str(v) for k, v in p.retention.items()} == {
        "service_usage_record": "P1Y",
        "contract_record": "P5Y",
        "payment_record": "P5Y",
        "complaint_record": "P3Y",
        "web_visit_record": "P3M",
    }
    assert p.retention_of("email") is None
    assert str(p.destruction.grace) == "P5D"
    assert [str(x) for x in (p.rights.access, p.rights.correction, p.rights.notify_recipients)] == [
        "P10D"
    ] * 3
    assert p.bulk_access.max_subjects == 200 and str(p.bulk_access.window) == "PT1H"
    assert (str(p.notice.minimum), str(p.notice.significant)) == ("P7D", "P30D")


def test_bundled_file_has_section_comments() -> None:
    text = BUNDLED.read_text("utf-8")
    for section in ("§1", "§2", "§3", "§4", "§5", "§6", "§7", "§9", "§10", "§13"):
        assert section in text


def test_version_at() -> None:
    text = BUNDLED.read_text("utf-8").replace(
        "versions:\n",
        "versions:\n  - id: colabox-v2\n    announced_at: 2026-01-01T00:00:00Z\n"
        "    effective_at: 2026-02-01T00:00:00Z\n",
        1,
    )
    p = parse_policy(text)
    assert p.version_at(datetime(2021, 1, 1, tzinfo=UTC)) == "colabox-v1"
    assert p.version_at(datetime(2026, 1, 31, 23, 59, tzinfo=UTC)) == "colabox-v1"
    assert p.version_at(datetime(2026, 2, 1, tzinfo=UTC)) == "colabox-v2"
    # before the first version: the oldest text we hold
    assert p.version_at(datetime(2019, 1, 1, tzinfo=UTC)) == "colabox-v1"


def test_unknown_terms() -> None:
    p, ev = default_policy(), Factory()
    assert p.unknown_terms(ev.use(1, items=["email", "foo"], purpose="bar")) == [
        "items:foo",
        "purpose:bar",
    ]
    assert p.unknown_terms(ev.use(1)) == []
    assert p.unknown_terms(ev("consent_given", 1, scope="third_party:acme")) == []
    assert p.unknown_terms(ev("consent_given", 1, scope="third_party")) == ["scope:third_party"]
    assert p.unknown_terms(ev.collect(1, items=["foo", "foo"])) == ["items:foo"]


def test_load_policy_reads_the_bundled_file() -> None:
    assert load_policy(BUNDLED) == default_policy()


# -- negative files: each error names its line ----------------------------------------------


def marked_line(path: Path) -> int:
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if "<- error" in line:
            return number
    raise AssertionError(f"{path} has no '<- error' marker")


@pytest.mark.parametrize(
    "name,words",
    [
        ("unknown_item_in_context.yaml", "unknown item 'shoe_size'"),
        ("bad_duration.yaml", "not an ISO 8601 duration"),
        ("duplicate_key.yaml", "duplicate key 'web_visit_record'"),
        ("calendar_window.yaml", "fixed length"),
        ("unknown_processor_purpose.yaml", "unknown purpose 'resale'"),
        ("negative_threshold.yaml", "greater than 0"),
        ("misspelt_key.yaml", "acces"),
        ("bad_term.yaml", "not a vocabulary term"),
    ],
)
def test_bad_policy_names_the_line(name: str, words: str) -> None:
    path = BAD / name
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.line == marked_line(path)
    assert info.value.path == str(path)
    assert words in str(info.value)
    assert f"{path}:{marked_line(path)}:" in str(info.value)


def test_yaml_syntax_error_names_a_line_at_or_after_the_problem() -> None:
    path = BAD / "bad_yaml.yaml"
    with pytest.raises(PolicyError, match="invalid YAML") as info:
        load_policy(path)
    assert info.value.line is not None and info.value.line >= marked_line(path)


def test_missing_sections_are_named() -> None:
    with pytest.raises(
        PolicyError,
        match=r"versions: List should have at least 1 item.*"
        r"\(and 13 more problems\)",
    ) as info:
        load_policy(BAD / "incomplete.yaml")
    assert info.value.line == 2


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(PolicyError, match="empty"):
        load_policy(empty)


def test_invalid_policy_cannot_be_constructed_directly() -> None:
    data = default_policy().model_dump()
    data["identifiers"] = ["shoe_size"]
    with pytest.raises(ValueError, match="identifiers.0: unknown item 'shoe_size'"):
        Policy.model_validate(data)


# -- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start,period,end",
    [
        ("2024-02-29T10:00:00", "P1Y", "2025-02-28T10:00:00"),
        ("2024-11-30T00:00:00", "P3M", "2025-02-28T00:00:00"),
        ("2023-11-30T00:00:00", "P3M", "2024-02-29T00:00:00"),
        ("2024-01-31T00:00:00", "P1M", "2024-02-29T00:00:00"),
        ("2024-03-15T00:00:00", "P5Y", "2029-03-15T00:00:00"),
        ("2024-12-31T23:00:00", "PT1H", "2025-01-01T00:00:00"),
        ("2024-02-25T00:00:00", "P10D", "2024-03-06T00:00:00"),
        ("2024-10-15T00:00:00", "P3M5D", "2025-01-20T00:00:00"),
    ],
)
def test_calendar_arithmetic(start: str, period: str, end: str) -> None:
    t0 = datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert Duration.parse(period).add_to(t0) == datetime.fromisoformat(end).replace(tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "P", "PT", "1Y", "P1.5Y", "P-1D", "five days"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        Duration.parse(text)


@pytest.mark.parametrize("text", ["P1Y", "P3M", "P10D", "PT1H", "P1Y2M3DT4H5M6S", "PT0S"])
def test_duration_round_trip(text: str) -> None:
    assert str(Duration.parse(text)) == text


def _reference_add(t0: datetime, years: int, months: int, days: int) -> datetime:
    import calendar
    from datetime import timedelta

    index = t0.month - 1 + months + 12 * years
    year, month = t0.year + index // 12, index % 12 + 1
    day = min(t0.day, calendar.monthrange(year, month)[1])
    return t0.replace(year=year, month=month, day=day) + timedelta(days=days)


@given(
    t0=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    years=st.integers(0, 10),
    months=st.integers(0, 30),
    days=st.integers(0, 400),
)
def test_calendar_arithmetic_property(t0: datetime, years: int, months: int, days: int) -> None:
    t0 = t0.replace(tzinfo=UTC)
    got = Duration(years=years, months=months, days=days).add_to(t0)
    assert got == _reference_add(t0, years, months, days)
    # a missing day becomes the last day of the month, never spills into the next one
    if not days:
        assert got.day <= t0.day
