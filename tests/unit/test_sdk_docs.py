"""docs/sdk.md stays honest: every variable, method and metric it should list is there."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from privtrail.sdk.methods import EventMethods
from privtrail.sdk.metrics import SdkMetrics
from privtrail.sdk.settings import ENV

pytestmark = pytest.mark.unit

DOC = (Path(__file__).resolve().parents[2] / "docs" / "sdk.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("variable", sorted(ENV.values()))
def test_every_environment_variable_is_documented(variable: str) -> None:
    assert f"`{variable}`" in DOC


def test_every_method_is_documented() -> None:
    for name in (n for n in vars(EventMethods) if not n.startswith("_")):
        assert f"`{name}(" in DOC or f"/ `{name}(" in DOC, name


def test_every_metric_is_documented() -> None:
    registry = CollectorRegistry()
    SdkMetrics("doc", registry).refused("contract")
    names = {m.name for m in registry.collect()}
    for name in names:
        shown = (
            name
            if not name.endswith(("_sent", "_spooled", "_replayed", "_refused", "_failed", "_full"))
            else name + "_total"
        )
        assert f"`{shown}" in DOC, shown
