"""Per-event cost of the wire codec, next to bare fastavro on the same records.

    /tmp/pv/bin/python benchmarks/bench_wire.py [--number N] [--repeat R]

Prints microseconds per event (best of R runs over a mix of every event type) and the ratio
to the bare fastavro baseline measured in the same run, so the numbers mean something on any
machine. Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import io
import timeit
from collections.abc import Callable
from typing import Any

import fastavro

from privtrail.events import EVENT_TYPES, parse_event
from privtrail.wire import (
    decode_event,
    decode_event_trusted,
    encode_event,
    event_to_record,
    record_to_event,
)
from privtrail.wire.codec import EVENT_VERSION, HEADER_SIZE

_HEAD: dict[str, Any] = {
    "occurred_at": "2026-03-01T09:30:00.123456Z",
    "source": {"service": "crm", "instance": "crm-7f9c"},
    "actor": {"kind": "staff", "id": "staff-0042", "role": "sales"},
    "subject_id": "subj-9a1f",
}
# A realistic mix leans on collected/used/disclosed; every type appears at least once.
_PAYLOADS: dict[str, dict[str, Any]] = {
    "collected": {
        "items": ["email", "company_name", "phone"],
        "context": "product_inquiry",
        "method": "inquiry_board",
        "purposes": ["user_management", "marketing"],
    },
    "used": {"items": ["email"], "purpose": "user_management", "operation": "view"},
    "disclosed": {
        "items": ["contract_record"],
        "recipient": "salesforce",
        "purpose": "contract_performance",
        "basis": "entrustment",
    },
    "consent_given": {"scope": "marketing"},
    "consent_withdrawn": {"scope": "marketing"},
    "correction_requested": {"request_id": "req-1", "items": ["phone"]},
    "corrected": {"request_id": "req-1"},
    "recipient_notified": {"request_id": "req-1", "recipient": "salesforce"},
    "access_requested": {"request_id": "req-2", "channel": "board"},
    "identity_verified": {"request_id": "req-2", "verified_as": "self"},
    "access_fulfilled": {"request_id": "req-2"},
    "withdrawal_requested": {},
    "archived": {"items": ["payment_record"]},
    "destroyed": {"items": ["web_visit_record"], "method": "shred", "reason": "retention_expired"},
    "handler_authorized": {"handler_id": "staff-0042", "role": "support"},
    "handler_revoked": {"handler_id": "staff-0042", "role": "support"},
    "policy_published": {
        "policy_version": "2026-03",
        "announced_at": "2026-03-01T00:00:00Z",
        "effective_at": "2026-03-31T00:00:00Z",
        "significant": False,
    },
}
_NO_SUBJECT = {"handler_authorized", "handler_revoked", "policy_published"}
_WEIGHTS = {"collected": 4, "used": 10, "disclosed": 3}


def json_forms() -> list[dict[str, Any]]:
    out = []
    for kind in EVENT_TYPES:
        form = {"event_id": f"evt-{kind}", "type": kind, **_HEAD, **_PAYLOADS[kind]}
        if kind in _NO_SUBJECT:
            del form["subject_id"]
        out.extend([form] * _WEIGHTS.get(kind, 1))
    return out


def per_op(fn: Callable[[Any], object], inputs: list[Any], number: int, repeat: int) -> float:
    """Best-of-``repeat`` microseconds per call, cycling through ``inputs``."""
    n = len(inputs)
    rounds = max(1, number // n)

    def run() -> None:
        for _ in range(rounds):
            for item in inputs:
                fn(item)

    best = min(timeit.repeat(run, number=1, repeat=repeat))
    return best / (rounds * n) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is kept")
    args = parser.parse_args()

    forms = json_forms()
    events = [parse_event(f) for f in forms]
    records = [event_to_record(e) for e in events]
    frames = [encode_event(e) for e in events]
    bodies = [f[HEADER_SIZE:] for f in frames]
    schema = EVENT_VERSION.parsed

    def bare_write(record: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, schema, record)
        return out.getvalue()

    def bare_read(body: bytes) -> Any:
        return fastavro.schemaless_reader(io.BytesIO(body), schema, None, return_record_name=True)

    def caller_total(form: dict[str, Any]) -> bytes:
        # What an SDK caller pays: validate the JSON form into a typed event, then encode.
        return encode_event(parse_event(form))

    measure = [
        ("encode: bare fastavro schemaless_writer", bare_write, records, None),
        ("encode: event_to_record", event_to_record, events, "encode: bare"),
        ("encode: encode_event (record + write)", encode_event, events, "encode: bare"),
        ("caller: parse_event (validation)", parse_event, forms, "encode: bare"),
        ("caller: parse_event + encode_event", caller_total, forms, "encode: bare"),
        ("decode: bare fastavro schemaless_reader", bare_read, bodies, None),
        ("decode: record_to_event (validation)", record_to_event, records, "decode: bare"),
        ("decode: decode_event (read + validate)", decode_event, frames, "decode: bare"),
        # The sink's path for privacy.events.valid: same read, models built unvalidated.
        (
            "decode: decode_event_trusted (no validate)",
            decode_event_trusted,
            frames,
            "decode: bare",
        ),
    ]
    print(
        f"mix of {len(forms)} events over {len(EVENT_TYPES)} types, mean frame "
        f"{sum(map(len, frames)) / len(frames):.0f} bytes; best of {args.repeat}"
    )
    baselines: dict[str, float] = {}
    for label, fn, inputs, against in measure:
        us = per_op(fn, inputs, args.number, args.repeat)
        if against is None:
            baselines[label.split(":")[0] + ": bare"] = us
            ratio = "baseline"
        else:
            ratio = f"x{us / baselines[against]:.2f} of bare"
        print(f"{label:44s} {us:8.2f} us/op   {ratio}")


if __name__ == "__main__":
    main()
