"""The sink on the real stack: events and alerts land once, the writer cannot rewrite history,
tampering as admin is caught by `privtrail verify` at the exact index, and `privtrail prove`
output verifies offline with the standalone verifier."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from privtrail.alerts import Alert
from privtrail.cli.main import main
from privtrail.sinks.migrate import load_migrations, migrate
from privtrail.sinks.rows import EVENT_COLUMNS, event_row, fresh_log_rows, full_event_row
from privtrail.sinks.samples import sample_events
from privtrail.sinks.settings import SinkSettings, load_verifiers
from privtrail.sinks.store import HistoryStore
from privtrail.sinks.testing import (
    encoded_alerts,
    encoded_events,
    produce,
    running_sink,
    settings_for,
    sink_env,
    wait_for,
)
from privtrail.sinks.verify import verify_history
from privtrail.tlog import leaf_hash

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
N_EVENTS = 1200


def _count(client: Any, sql: str, **params: Any) -> int:
    return int(client.query(sql, parameters=params).result_rows[0][0])


@pytest.fixture(scope="module")
def schema(ch_admin: Any) -> None:
    migrate(ch_admin)


@pytest.fixture(scope="module")
def landed(stack: Any, schema: None, kafka_admin: Any, ch_admin: Any) -> Iterator[SinkSettings]:
    """A module-wide history: N_EVENTS events over 3 partitions and 20 alerts, landed by the
    sink (which checkpoints at shutdown)."""
    import uuid

    valid, alerts = f"sink-valid-{uuid.uuid4().hex[:8]}", f"sink-alerts-{uuid.uuid4().hex[:8]}"
    kafka_admin.create_topics(
        {
            valid: {"num_partitions": 3, "replication_factor": 1},
            alerts: {"num_partitions": 1, "replication_factor": 1},
        },
        wait_for_metadata=True,
    )
    settings = settings_for(stack, valid, alerts)
    events = list(sample_events(N_EVENTS, prefix="hist"))
    produce(stack.kafka.bootstrap, valid, encoded_events(events), key=lambda n: str(n).encode())
    produce(stack.kafka.bootstrap, alerts, encoded_alerts(_alerts(events[:20])))
    with running_sink(settings):
        assert wait_for(
            lambda: (
                _count(
                    ch_admin,
                    "SELECT count() FROM privtrail.events WHERE log_topic={t:String}",
                    t=valid,
                )
                >= N_EVENTS  # noqa: E501
                and _count(
                    ch_admin,
                    "SELECT count() FROM privtrail.alerts WHERE kafka_topic={t:String}",
                    t=alerts,
                )
                >= 20
            ),  # noqa: E501
            timeout=90,
        ), "the sink did not land every event and alert in time"
    yield settings


def _alerts(events: list[Any]) -> Iterator[Alert]:
    for e in events:
        yield Alert(
            rule="purpose_not_allowed",
            event_id=e.event_id,
            subject_id=getattr(e, "subject_id", None),
            severity="high",
            message="purpose not in the policy for these items",
            occurred_at=e.occurred_at,
            policy_version="2026.1",
            actor_id=e.actor.id,
            evidence={"items": ["contact:email"]},
        )


def test_every_event_lands_once_with_gap_free_leaf_indexes(
    landed: SinkSettings, ch_investigator: Any
) -> None:
    rows = ch_investigator.query(
        "SELECT log_partition, count(), uniqExact(event_id), uniqExact(leaf_index), "
        "min(leaf_index), max(leaf_index) FROM privtrail.events WHERE log_topic={t:String} "
        "GROUP BY log_partition ORDER BY log_partition",
        parameters={"t": landed.topics.valid},
    ).result_rows
    assert sum(r[1] for r in rows) == N_EVENTS
    assert len(rows) == 3
    for _p, count, ids, indexes, low, high in rows:
        assert count == ids == indexes
        assert (low, high) == (0, count - 1)


def test_stored_row_matches_the_event(landed: SinkSettings, ch_investigator: Any) -> None:
    event = next(e for e in sample_events(N_EVENTS, prefix="hist") if e.type == "disclosed")
    (row,) = ch_investigator.query(
        "SELECT type, actor_id, recipient, items, event_json, leaf_hash FROM privtrail.events "
        "WHERE event_id={e:String}",
        parameters={"e": event.event_id},
    ).result_rows
    assert row[0] == "disclosed"
    assert row[1] == event.actor.id
    assert row[2] == event.recipient  # type: ignore[attr-defined]
    assert row[3] == list(event.items)  # type: ignore[attr-defined]
    assert row[4].encode() == event.canonical_bytes()
    assert row[5] == leaf_hash(event.canonical_bytes())


def test_alerts_land_with_their_ids(landed: SinkSettings, ch_investigator: Any) -> None:
    rows = ch_investigator.query(
        "SELECT alert_id, rule, evidence_json FROM privtrail.alerts WHERE kafka_topic={t:String}",
        parameters={"t": landed.topics.alerts},
    ).result_rows
    events = list(sample_events(20, prefix="hist"))
    assert sorted(r[0] for r in rows) == sorted(a.alert_id for a in _alerts(events))
    assert json.loads(rows[0][2]) == {"items": ["contact:email"]}


def test_checkpoints_are_signed_for_every_partition(
    landed: SinkSettings, ch_investigator: Any
) -> None:
    report = verify_history(
        ch_investigator, landed.topics.valid, load_verifiers(landed), origin=landed.origin
    )
    assert report.ok, report.render()
    assert [p.verified_size for p in report.partitions] == [p.rows for p in report.partitions]
    assert sum(p.rows for p in report.partitions) == N_EVENTS


def test_same_dedup_token_twice_inserts_once(schema: None, ch_writer: Any) -> None:
    import uuid

    topic = f"sink-dedup-{uuid.uuid4().hex[:8]}"
    store = HistoryStore(ch_writer)
    rows = fresh_log_rows(sample_events(5, prefix="dedup"), topic=topic)
    count = "SELECT count() FROM privtrail.events WHERE log_topic={t:String}"
    store.insert_events(rows, f"{topic}/0/0-4")
    assert _count(ch_writer, count, t=topic) == 5
    store.insert_events(rows, f"{topic}/0/0-4")  # a retry after a lost acknowledgement
    assert _count(ch_writer, count, t=topic) == 5
    store.insert_events(rows, f"{topic}/0/0-4-other")  # the token, not the rows, decides
    assert _count(ch_writer, count, t=topic) == 10


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE privtrail.events DELETE WHERE 1",
        "ALTER TABLE privtrail.events UPDATE actor_id = 'x' WHERE 1",
        "TRUNCATE TABLE privtrail.events",
        "DROP TABLE privtrail.checkpoints",
        "ALTER TABLE privtrail.events DROP PARTITION 202601",
    ],
)
def test_writer_cannot_rewrite_history(schema: None, ch_writer: Any, statement: str) -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError

    with pytest.raises(DatabaseError, match="Not enough privileges"):
        ch_writer.command(statement)


def test_migrate_is_idempotent_and_recorded(schema: None, ch_admin: Any) -> None:
    assert migrate(ch_admin) == []
    recorded = {
        int(r[0])
        for r in ch_admin.query("SELECT version FROM privtrail.schema_migrations").result_rows
    }
    assert {m.version for m in load_migrations()} <= recorded


def test_every_event_column_exists_in_the_table(schema: None, ch_investigator: Any) -> None:
    rows = ch_investigator.query(
        "SELECT name FROM system.columns WHERE database='privtrail' AND table='events'"
    ).result_rows
    assert set(EVENT_COLUMNS) == {r[0] for r in rows}


# -- tampering behind the sink's back --------------------------------------------------------


def _cli(settings: SinkSettings, args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    for key, value in sink_env(settings).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(
        "PRIVTRAIL_CHECKPOINT_VERIFIER_KEY", load_verifiers(settings)[0].key_string()
    )
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def tamper_log(
    stack: Any, schema: None, kafka_topic_factory: Callable[..., str], ch_admin: Any
) -> SinkSettings:
    """A fresh 2-partition history of 200 events, checkpointed, for one tampering test."""
    valid = kafka_topic_factory(partitions=2, prefix="sink-tamper")
    alerts = kafka_topic_factory(partitions=1, prefix="sink-tamper-alerts")
    settings = settings_for(stack, valid, alerts)
    produce(
        stack.kafka.bootstrap,
        valid,
        encoded_events(sample_events(200, prefix=valid[-6:])),
        key=lambda n: str(n).encode(),
    )
    with running_sink(settings):
        assert wait_for(
            lambda: (
                _count(
                    ch_admin,
                    "SELECT count() FROM privtrail.events WHERE log_topic={t:String}",
                    t=valid,
                )
                >= 200
            ),  # noqa: E501
            timeout=60,
        )
    return settings


def _admin(ch_admin: Any, sql: str, **params: Any) -> None:
    ch_admin.command(sql, parameters=params, settings={"mutations_sync": 2})


def test_verify_passes_then_catches_an_edited_column(
    tamper_log: SinkSettings, ch_admin: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    assert _cli(tamper_log, ["verify"], monkeypatch) == 0
    _admin(
        ch_admin,
        "ALTER TABLE privtrail.events UPDATE actor_id = 'staff-9999' "
        "WHERE log_topic={t:String} AND log_partition=1 AND leaf_index=17",
        t=tamper_log.topics.valid,
    )
    capsys.readouterr()
    assert _cli(tamper_log, ["verify"], monkeypatch) == 1
    out = capsys.readouterr().out
    assert "partition 1 index 17: changed: column(s) actor_id disagree" in out


def test_verify_catches_edited_json_and_deleted_row(
    tamper_log: SinkSettings, ch_admin: Any, ch_investigator: Any
) -> None:
    t = tamper_log.topics.valid
    used = _count(
        ch_admin,
        "SELECT min(leaf_index) FROM privtrail.events WHERE log_topic={t:String} "
        "AND log_partition=0 AND type='used'",
        t=t,
    )
    # The forger keeps the typed column in line with the JSON, but not the leaf hash.
    _admin(
        ch_admin,
        "ALTER TABLE privtrail.events UPDATE event_json = replaceOne(event_json, 'support', "
        "'billing'), purpose = 'billing' WHERE log_topic={t:String} AND log_partition=0 "
        "AND leaf_index={i:UInt64}",
        t=t,
        i=used,
    )
    _admin(
        ch_admin,
        "ALTER TABLE privtrail.events DELETE WHERE log_topic={t:String} AND log_partition=1 "
        "AND leaf_index=40",
        t=t,
    )
    report = verify_history(
        ch_investigator, t, load_verifiers(tamper_log), origin=tamper_log.origin
    )
    found = {(p.partition, p.index, p.kind, p.detail) for p in report.problems}
    assert (1, 40, "removed", "leaf index(es) 40 missing") in found
    assert (0, used, "changed", "event_json does not hash to the stored leaf_hash") in found
    assert len(found) == 2, report.render()


def test_verify_catches_a_rehashed_edit_and_an_inserted_row(
    tamper_log: SinkSettings, ch_admin: Any, ch_investigator: Any
) -> None:
    t = tamper_log.topics.valid
    # A careful forger also recomputes leaf_hash: only the signed root can tell.
    _admin(
        ch_admin,
        "ALTER TABLE privtrail.events UPDATE "
        "event_json = replaceOne(event_json, 'pod-', 'pox-'), "
        "instance = replaceOne(instance, 'pod-', 'pox-'), "
        "leaf_hash = SHA256(concat(char(0), replaceOne(event_json, 'pod-', 'pox-'))) "
        "WHERE log_topic={t:String} AND log_partition=0 AND leaf_index=5",
        t=t,
    )
    # And a forged row copied from another, given an existing index.
    _admin(
        ch_admin,
        "INSERT INTO privtrail.events SELECT * FROM privtrail.events "
        "WHERE log_topic={t:String} AND log_partition=1 AND leaf_index=7",
        t=t,
    )
    report = verify_history(
        ch_investigator, t, load_verifiers(tamper_log), origin=tamper_log.origin
    )
    kinds = {(p.partition, p.kind): p for p in report.problems}
    assert kinds[(1, "inserted")].index == 7
    mismatch = kinds[(0, "root_mismatch")]
    assert mismatch.index is not None and mismatch.index <= 5
    assert not report.ok


def test_verify_flags_rows_past_the_newest_checkpoint(
    tamper_log: SinkSettings, ch_admin: Any, ch_investigator: Any
) -> None:
    t = tamper_log.topics.valid
    size = _count(
        ch_admin,
        "SELECT count() FROM privtrail.events WHERE log_topic={t:String} AND log_partition=0",
        t=t,
    )
    # A well-formed forged event appended at the next index, with a correct leaf hash.
    forged = event_row(next(sample_events(1, prefix="forged")))
    ch_admin.insert(
        "privtrail.events",
        [
            full_event_row(
                forged,
                topic=t,
                partition=0,
                leaf_index=size,
                offset=10**6,
                leaf_hash=leaf_hash(forged.canonical),
                ingested_at=forged.values[2],
            )  # fmt: skip
        ],
        column_names=list(EVENT_COLUMNS),
    )
    verifiers = load_verifiers(tamper_log)
    report = verify_history(ch_investigator, t, verifiers, origin=tamper_log.origin)
    assert len(report.problems) == 1, report.render()
    (problem,) = report.problems
    assert (problem.partition, problem.index, problem.kind) == (0, size, "unsigned")
    lenient = verify_history(
        ch_investigator, t, verifiers, origin=tamper_log.origin, allow_pending=True
    )
    assert lenient.ok


def test_prove_output_verifies_offline(
    tamper_log: SinkSettings,
    ch_investigator: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    (event_id,) = ch_investigator.query(
        "SELECT event_id FROM privtrail.events WHERE log_topic={t:String} AND log_partition=1 "
        "AND leaf_index=11",
        parameters={"t": tamper_log.topics.valid},
    ).result_rows[0]
    bundle = tmp_path / "proof.json"
    assert _cli(tamper_log, ["prove", event_id, "--out", str(bundle)], monkeypatch) == 0
    key = load_verifiers(tamper_log)[0].key_string()
    tool = ROOT / "tools" / "privtrail_verify_proof.py"
    ok = subprocess.run(
        [sys.executable, str(tool), "--key", key, str(bundle)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(bundle.read_text())["leaf_index"] == 11
    # The same bundle with the event altered must fail offline.
    data = json.loads(bundle.read_text())
    data["event"] = data["event"].replace("staff-", "staff-x")
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    bad = subprocess.run(
        [sys.executable, str(tool), "--key", key, str(forged)], capture_output=True, text=True
    )
    assert bad.returncode != 0


def test_prove_consistency_between_checkpoints(
    stack: Any,
    schema: None,
    kafka_topic_factory: Callable[..., str],
    ch_admin: Any,
    ch_investigator: Any,
    tmp_path: Path,
) -> None:
    from privtrail.sinks.prove import prove_consistency
    from privtrail.tlog import ConsistencyBundle

    valid = kafka_topic_factory(partitions=1, prefix="sink-consistency")
    settings = settings_for(stack, valid, kafka_topic_factory(prefix="sink-consistency-alerts"))
    for part in range(2):  # two sink runs: two checkpoints
        produce(
            stack.kafka.bootstrap,
            valid,
            encoded_events(sample_events(30 + part * 7, prefix=f"c{part}")),
        )  # noqa: E501
        with running_sink(settings):
            want = 30 if part == 0 else 67
            assert wait_for(
                lambda w=want: (
                    _count(
                        ch_admin,
                        "SELECT count() FROM privtrail.events WHERE log_topic={t:String}",
                        t=valid,
                    )
                    >= w
                )  # noqa: E501
            )
    text = prove_consistency(ch_investigator, valid, 0, 30, 67, load_verifiers(settings))
    data = json.loads(text)
    bundle = ConsistencyBundle.from_json(text)
    old, new = bundle.verify(
        data["old_checkpoint"].encode(), data["new_checkpoint"].encode(), load_verifiers(settings)
    )
    assert (old.size, new.size) == (30, 67)
    # And offline, with the standalone verifier (notes and proof as separate files).
    (tmp_path / "old.note").write_text(data["old_checkpoint"])
    (tmp_path / "new.note").write_text(data["new_checkpoint"])
    (tmp_path / "proof.json").write_text(text)
    tool = ROOT / "tools" / "privtrail_verify_proof.py"
    key = load_verifiers(settings)[0].key_string()
    files = [str(tmp_path / n) for n in ("old.note", "new.note", "proof.json")]
    done = subprocess.run(
        [sys.executable, str(tool), "--key", key, "--consistency", *files],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    swapped = subprocess.run(
        [sys.executable, str(tool), "--key", key, "--consistency", files[1], files[0], files[2]],
        capture_output=True,
        text=True,
    )
    assert swapped.returncode != 0


def test_cli_db_migrate_is_a_no_op_the_second_time(
    landed: SinkSettings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    assert _cli(landed, ["db", "migrate"], monkeypatch) == 0
    assert "schema is up to date" in capsys.readouterr().out
