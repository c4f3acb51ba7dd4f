"""Shared test configuration: markers (also declared in pyproject.toml, so that
``--strict-markers`` works when pytest is run from another root)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: pure tests with no servers")
    config.addinivalue_line(
        "markers", "integration: tests that need the real local Kafka and ClickHouse stack"
    )
