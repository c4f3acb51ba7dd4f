"""The access report a data subject is owed (COLABOX §7.5, PIPA 제35조), in Markdown or HTML.

It is assembled from two catalog queries, ``subject_state_as_of`` (what is held now) and
``access_report`` (every cited event with its place in the log), and carries, for each cited
event, an inclusion proof the subject's lawyer can check offline with
``tools/privtrail_verify_proof.py``: the sink's proof bundle when verifier keys are given,
otherwise the event's log coordinates and the newest signed checkpoint of its partition.

Pseudonyms and categories only: staff appear by role, never by their staff id. The proof
bundles carry each event's canonical JSON verbatim (the leaf hashes it), so whatever the
event contract puts in an event appears there.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from privtrail.events import format_timestamp
from privtrail.queries.binding import QueryResult, run_query
from privtrail.queries.formats import cell_text, markdown_escape
from privtrail.tlog import NoteVerifier

TITLE = "Access report (개인정보 열람 결과)"
_NEWEST_CHECKPOINT = (
    "SELECT argMax(note, (tree_size, created_at)) FROM privtrail.checkpoints "
    "WHERE log_topic = {t:String} AND log_partition = {p:UInt32}"
)


@dataclass(frozen=True, slots=True)
class CitedProof:
    """Where one cited event sits in the log, and its proof bundle when one could be built."""

    event_id: str
    log_topic: str
    log_partition: int
    leaf_index: int
    leaf_hash: str
    bundle_json: str | None = None
    missing: str = ""


@dataclass(frozen=True, slots=True)
class AccessReport:
    subject: str
    as_of: datetime
    state: QueryResult
    events: QueryResult
    proofs: tuple[CitedProof, ...]
    checkpoints: tuple[str, ...]
    """Signed checkpoint notes of the partitions cited (used when no bundle was built)."""


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    intro: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]


def _bundles(
    client: Any, rows: list[dict[str, Any]], verifiers: Sequence[NoteVerifier]
) -> list[CitedProof]:
    from privtrail.sinks.prove import ProveError, prove_event

    out = []
    for r in rows:
        coords = (
            r["event_id"],
            r["log_topic"],
            r["log_partition"],
            r["leaf_index"],
            r["leaf_hash"],
        )
        try:
            bundle = prove_event(client, r["event_id"], verifiers, topic=r["log_topic"])
        except ProveError as exc:
            out.append(CitedProof(*coords, missing=str(exc)))
        else:
            out.append(CitedProof(*coords, bundle_json=bundle))
    return out


def build_access_report(
    client: Any,
    subject: str,
    as_of: datetime,
    *,
    verifiers: Sequence[NoteVerifier] | None = None,
) -> AccessReport:
    """Run the queries (as whatever user ``client`` is: the CLI uses ``investigator``)."""
    params = {"subject": subject, "as_of": as_of}
    state = run_query(client, "subject_state_as_of", params)
    events = run_query(client, "access_report", params)
    rows = events.dicts()
    if verifiers:
        proofs = _bundles(client, rows, verifiers)
    else:
        proofs = [
            CitedProof(
                r["event_id"], r["log_topic"], r["log_partition"], r["leaf_index"], r["leaf_hash"]
            )
            for r in rows
        ]
    notes: list[str] = []
    for topic, partition in sorted({(p.log_topic, p.log_partition) for p in proofs}):
        found = client.query(_NEWEST_CHECKPOINT, parameters={"t": topic, "p": partition})
        notes.extend(str(row[0]) for row in found.result_rows if row[0])
    return AccessReport(subject, as_of, state, events, tuple(proofs), tuple(notes))


def _join(values: Any) -> str:
    return ", ".join(str(v) for v in values) if values else "-"


def _when(value: Any) -> str:
    return format_timestamp(value) if isinstance(value, datetime) else cell_text(value)


def sections(report: AccessReport) -> list[Section]:
    """The report's content, independent of the output format."""
    state = report.state.dicts()
    events = report.events.dicts()

    def facts(*aspects: str) -> list[dict[str, Any]]:
        return [f for f in state if f["aspect"] in aspects]

    def cited(*names: str) -> list[dict[str, Any]]:
        return [e for e in events if e["section"] in names]

    def event_rows(items: list[dict[str, Any]]) -> list[tuple[str, ...]]:
        return [
            (
                _when(e["occurred_at"]),
                e["type"],
                _join(e["items"]),
                _join(e["purposes"]),
                e["party"],
                e["detail"] or "-",
                e["legal_reference"] or "-",
                e["event_id"],
            )
            for e in items
        ]

    event_cols = (
        "when (UTC)",
        "what",
        "items",
        "purposes",
        "by / to",
        "detail",
        "legal reference",
        "event",
    )
    return [
        Section(
            "1. Personal data we hold",
            "Categories of personal data held about you at the time of this report, the "
            "purposes declared when they were collected, and since when. Archived items are "
            "kept in a separate store only as the law requires.",
            ("item", "purposes", "state", "since (UTC)"),
            [
                (f["term"], _join(f["detail"]), f["aspect"], _when(f["since"]))
                for f in facts("held", "archived")
            ],
        ),
        Section(
            "2. How your data was used",
            "Each use of your personal data: by whom in our organisation (by role), for "
            "which purpose and what was done.",
            event_cols,
            event_rows(cited("use")),
        ),
        Section(
            "3. To whom it was provided",
            "Each provision to a processor (entrustment) or a third party, with its basis and, "
            "for lawful requests, the legal reference.",
            event_cols,
            event_rows(cited("provision")),
        ),
        Section(
            "4. What you consented to",
            "Consents active now: "
            + (_join([f["term"] for f in facts("consent")]) if facts("consent") else "none")
            + ". Every consent given or withdrawn:",
            event_cols,
            event_rows(cited("consent")),
        ),
        Section(
            "5. Collection, archiving and destruction",
            "When and how your data was collected, archived or destroyed.",
            event_cols,
            event_rows(cited("collection", "retention")),
        ),
        Section(
            "6. Your requests",
            "Open requests: "
            + (
                _join([f["term"] for f in facts("open_access", "open_correction")])
                if facts("open_access", "open_correction")
                else "none"
            )
            + ". Every request and what was done about it:",
            event_cols,
            event_rows(cited("request")),
        ),
        Section(
            "7. Proofs",
            "Every event cited above is a leaf of a tamper-evident log (RFC 6962 Merkle tree, "
            "signed checkpoints). The attached inclusion proofs let anyone check, without "
            "access to our systems, that these events are in the signed log.",
            ("event", "log", "partition", "leaf index", "leaf hash (SHA-256)", "proof"),
            [
                (
                    p.event_id,
                    p.log_topic,
                    str(p.log_partition),
                    str(p.leaf_index),
                    p.leaf_hash,
                    "bundle attached" if p.bundle_json else (p.missing or "coordinates only"),
                )
                for p in report.proofs
            ],
        ),
    ]


def _attachments(report: AccessReport) -> list[tuple[str, str]]:
    """(title, text) of each attached proof bundle, or of each checkpoint note."""
    bundles = [
        (f"Proof bundle for {p.event_id}", p.bundle_json) for p in report.proofs if p.bundle_json
    ]
    if bundles:
        return bundles
    return [(f"Signed checkpoint {i + 1}", note) for i, note in enumerate(report.checkpoints)]


def render_markdown(report: AccessReport) -> str:
    lines = [
        f"# {TITLE}",
        "",
        f"- Subject (pseudonym): `{report.subject}`",
        f"- As of: {format_timestamp(report.as_of)}",
        "- Basis: COLABOX privacy policy §7.5; PIPA 제35조",
        "",
    ]
    for s in sections(report):
        lines += [f"## {s.title}", "", s.intro, ""]
        if s.rows:
            lines.append("| " + " | ".join(s.columns) + " |")
            lines.append("|" + "|".join("---" for _ in s.columns) + "|")
            lines += ["| " + " | ".join(markdown_escape(c) for c in row) + " |" for row in s.rows]
        else:
            lines.append("_None._")
        lines.append("")
    lines += ["## Attachments", ""]
    for title, text in _attachments(report):
        lines += [f"### {title}", "", "```", text.rstrip("\n"), "```", ""]
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eee} code,pre{font-family:ui-monospace,monospace;font-size:.85em}
pre{background:#f6f6f6;padding:.75em;overflow-x:auto;white-space:pre-wrap}
"""


def render_html(report: AccessReport) -> str:
    """One self-contained page: inline CSS, no scripts, no external assets."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(TITLE)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(TITLE)}</h1>",
        "<ul>",
        f"<li>Subject (pseudonym): <code>{e(report.subject)}</code></li>",
        f"<li>As of: {e(format_timestamp(report.as_of))}</li>",
        "<li>Basis: COLABOX privacy policy §7.5; PIPA 제35조</li>",
        "</ul>",
    ]
    for s in sections(report):
        parts += [f"<h2>{e(s.title)}</h2>", f"<p>{e(s.intro)}</p>"]
        if s.rows:
            parts.append("<table><thead><tr>")
            parts += [f"<th>{e(c)}</th>" for c in s.columns]
            parts.append("</tr></thead><tbody>")
            for row in s.rows:
                parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
            parts.append("</tbody></table>")
        else:
            parts.append("<p><em>None.</em></p>")
    parts.append("<h2>Attachments</h2>")
    for title, text in _attachments(report):
        parts.append(f"<details><summary>{e(title)}</summary><pre>{e(text)}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
