"""Lazy re-exports for package ``__init__`` modules (PEP 562 ``__getattr__``).

A package lists ``name -> module`` and gets a ``__getattr__`` that imports the module on
first use and keeps the value in the package's namespace, so ``import privtrail`` and
``import privtrail.sdk.shipper`` stay cheap (no pydantic, fastavro or policy unless used).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_getattr(
    package: str, exports: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``, whose module globals are ``namespace``."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
