"""The catalog of investigations: the ``*.sql`` files shipped in this package.

Each file starts with a header of ``--`` comment lines::

    -- Question: what the query answers (continuation lines are indented)
    -- Duty: the rule or legal duty it serves
    -- Param name: Type [policy] -- description

and uses ClickHouse server-side placeholders ``{name:Type}``. The header is what
``privtrail query --list`` shows; the placeholders are what the server binds. Loading a file
checks that both name the same parameters with the same types, so the documentation cannot
drift from the SQL. ``[policy]`` marks a parameter the CLI fills from the privacy policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from privtrail.queries.errors import QueryDefinitionError, UnknownQueryError
from privtrail.queries.types import check_type

PACKAGE = "privtrail.queries"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}")
_PARAM_LINE = re.compile(
    r"^Param\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*):\s*(?P<type>.+?)\s*(?P<policy>\[policy\])?"
    r"\s+--\s+(?P<desc>.+)$"
)
_FIELD_LINE = re.compile(r"^(?P<key>Question|Duty):\s*(?P<text>.*)$")


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a query, as its header declares it."""

    name: str
    type: str
    description: str
    from_policy: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """One investigation: its name, question, duty, parameters and SQL text."""

    name: str
    question: str
    duty: str
    params: tuple[Param, ...]
    sql: str

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def _normalise_type(text: str) -> str:
    return re.sub(r"\s+", "", text)


def parse_query(name: str, text: str) -> Query:
    """Parse one file's header and check it against the file's placeholders."""
    fields: dict[str, list[str]] = {}
    params: list[Param] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        body = line[2:]
        stripped = body.strip()
        if not stripped:
            current = None
            continue
        if match := _FIELD_LINE.match(stripped):
            current = fields.setdefault(match["key"], [])
            current.append(match["text"])
        elif match := _PARAM_LINE.match(stripped):
            current = None
            params.append(Param(match["name"], match["type"], match["desc"], bool(match["policy"])))
        elif current is not None and body.startswith("   "):
            current.append(stripped)  # an indented continuation of Question/Duty
        else:
            current = None
    for key in ("Question", "Duty"):
        if not fields.get(key):
            raise QueryDefinitionError(f"{name}.sql: header lacks a '-- {key}:' line")
    declared = {p.name: p for p in params}
    if len(declared) != len(params):
        raise QueryDefinitionError(f"{name}.sql: a parameter is declared twice in the header")
    used: dict[str, str] = {}
    for pname, ptype in PLACEHOLDER.findall(text):
        previous = used.setdefault(pname, ptype)
        if _normalise_type(previous) != _normalise_type(ptype):
            raise QueryDefinitionError(
                f"{name}.sql: {{{pname}}} is used with two types, {previous} and {ptype}"
            )
    for pname, ptype in used.items():
        param = declared.get(pname)
        if param is None:
            raise QueryDefinitionError(f"{name}.sql: {{{pname}:{ptype}}} is not in the header")
        if _normalise_type(param.type) != _normalise_type(ptype):
            raise QueryDefinitionError(
                f"{name}.sql: header says {pname} is {param.type}, the SQL uses {ptype}"
            )
    for pname in declared:
        if pname not in used:
            raise QueryDefinitionError(f"{name}.sql: header parameter {pname!r} is never used")
    for param in params:
        try:
            check_type(param.type)
        except ValueError as exc:
            raise QueryDefinitionError(f"{name}.sql: parameter {param.name!r}: {exc}") from exc
    return Query(
        name=name,
        question=" ".join(fields["Question"]),
        duty=" ".join(fields["Duty"]),
        params=tuple(params),
        sql=text,
    )


def query_names() -> list[str]:
    """Names of every shipped query, sorted."""
    root = resources.files(PACKAGE)
    return sorted(
        entry.name.removesuffix(".sql") for entry in root.iterdir() if entry.name.endswith(".sql")
    )


@cache
def load_query(name: str) -> Query:
    """The query called ``name`` (the file ``name.sql``), parsed and checked."""
    names = query_names()
    if name not in names:
        raise UnknownQueryError(name, names)
    text = resources.files(PACKAGE).joinpath(f"{name}.sql").read_text(encoding="utf-8")
    return parse_query(name, text)


def list_queries() -> list[Query]:
    """Every shipped query, sorted by name."""
    return [load_query(name) for name in query_names()]
