"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest
from fixtures.evfactory import Factory


@pytest.fixture
def ev() -> Factory:
    """A factory of contract-valid events on a fixed clock (tests/unit/fixtures/evfactory.py)."""
    return Factory()
