"""Plain-text renderings of a query result: CSV, JSON and a Markdown table.

Pure functions over :class:`~privtrail.queries.binding.QueryResult`; the CLI adds a rich
table on top. Times are written in RFC 3339 UTC, lists as JSON arrays in CSV and Markdown.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from privtrail.events import format_timestamp
from privtrail.queries.binding import QueryResult


def plain(value: Any) -> Any:
    """A JSON-compatible form of one cell."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def cell_text(value: Any) -> str:
    """One cell as text: '' for NULL, JSON for lists."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(result: QueryResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([cell_text(v) for v in row])
    return out.getvalue()


def to_json(result: QueryResult) -> str:
    """A JSON array of objects, one per row, keyed by column name."""
    rows = [{k: plain(v) for k, v in zip(result.columns, row, strict=True)} for row in result.rows]
    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"


def markdown_escape(text: str) -> str:
    """Text safe inside a Markdown table cell (pipes and line breaks would split it)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(result: QueryResult) -> str:
    head = "| " + " | ".join(result.columns) + " |"
    rule = "|" + "|".join("---" for _ in result.columns) + "|"
    body = [
        "| " + " | ".join(markdown_escape(cell_text(v)) for v in row) + " |" for row in result.rows
    ]
    return "\n".join([head, rule, *body]) + "\n"
