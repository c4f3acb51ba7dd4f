"""Investigations: parameterised SQL over the audit history, and the access report.

Each ``*.sql`` file here is one investigation (see ``docs/investigations.md``).
"""

from privtrail.queries.binding import QueryResult, bind, run_query
from privtrail.queries.catalog import Param, Query, list_queries, load_query, query_names
from privtrail.queries.errors import (
    ParameterError,
    QueryDefinitionError,
    QueryError,
    QueryExecutionError,
    UnknownQueryError,
)
from privtrail.queries.policy_params import policy_parameters

__all__ = [
    "Param",
    "ParameterError",
    "Query",
    "QueryDefinitionError",
    "QueryError",
    "QueryExecutionError",
    "QueryResult",
    "UnknownQueryError",
    "bind",
    "list_queries",
    "load_query",
    "policy_parameters",
    "query_names",
    "run_query",
]
