"""Errors of the investigation queries: one base, a subclass per way a request goes wrong."""

from __future__ import annotations

from privtrail.errors import PrivtrailError


class QueryError(PrivtrailError):
    """Root of every error raised by :mod:`privtrail.queries`."""


class UnknownQueryError(QueryError, LookupError):
    """No shipped ``.sql`` file has that name; ``known`` lists the names that exist."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown query {name!r}; known queries: {', '.join(known)}")


class QueryDefinitionError(QueryError):
    """A shipped ``.sql`` file is malformed (header and placeholders disagree, unknown type)."""


class ParameterError(QueryError, ValueError):
    """A parameter is missing, unexpected, or has a value its type cannot take."""

    def __init__(self, query: str, param: str, message: str) -> None:
        self.query = query
        self.param = param
        super().__init__(f"{query}: parameter {param!r}: {message}")


class QueryExecutionError(QueryError):
    """The server refused or failed the query; ``code`` is ClickHouse's error code if known."""

    def __init__(self, query: str, message: str, code: int | None = None) -> None:
        self.query = query
        self.code = code
        super().__init__(f"{query}: {message}")
