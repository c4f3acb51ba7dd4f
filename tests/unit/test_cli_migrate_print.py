"""`privtrail db migrate --print` needs no server: it prints the DDL it would apply."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from privtrail.cli.main import cli

pytestmark = pytest.mark.unit


def test_print_single_node_ddl() -> None:
    result = CliRunner().invoke(cli, ["db", "migrate", "--print"])
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE IF NOT EXISTS privtrail.events" in result.output
    assert "ENGINE = MergeTree" in result.output


def test_print_cluster_ddl() -> None:
    result = CliRunner().invoke(cli, ["db", "migrate", "--cluster", "prod", "--print"])
    assert result.exit_code == 0, result.output
    assert "privtrail.events_local ON CLUSTER 'prod'" in result.output
    assert "ReplicatedMergeTree" in result.output
    assert "Distributed('prod', 'privtrail', 'events_local'" in result.output


def test_cluster_without_print_is_refused() -> None:
    result = CliRunner().invoke(cli, ["db", "migrate", "--cluster", "prod"])
    assert result.exit_code == 2
    assert "--print" in result.output
