"""The package's public surface: every exported name resolves, and the install ships every
subpackage (a package missing from pyproject.toml works in the editable install but not in
a wheel or the Docker image)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import privtrail

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", privtrail.__all__)
def test_exported_names_resolve(name: str) -> None:
    assert getattr(privtrail, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = privtrail.no_such_thing  # type: ignore[attr-defined]


def test_every_subpackage_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping: dict[str, str] = config["package-dir"]
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    missing = found - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
