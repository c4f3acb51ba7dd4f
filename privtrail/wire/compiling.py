"""What the precompiled Avro writer and reader share: walking a schema once.

:mod:`privtrail.wire.writer` and :mod:`privtrail.wire.reader` each turn a schema (parsed
JSON) into one function built of smaller ones, one per schema node. Both walk the schema
the same way, resolve names the same way and refuse the same features; only what they
build for a node differs. :class:`SchemaCompiler` is the walk, the subclasses the builders.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

F = TypeVar("F")
"""What the compiler builds per schema node (a writer or a reader function)."""


class Unsupported(Exception):
    """A schema, value or encoding outside what the compiled code handles: use fastavro."""


class SchemaCompiler(Generic[F]):
    """Compiles one schema; named types are compiled once and referenced by full name.

    Subclasses give the functions of the primitive and logical types they handle and
    build records, enums, arrays and unions; anything else raises :class:`Unsupported`.
    """

    primitives: dict[str, F]
    logical: dict[tuple[str, str], F]

    def __init__(self) -> None:
        self.named: dict[str, F] = {}

    def full_name(self, name: str, namespace: str | None) -> str:
        if "." in name or not namespace:
            return name
        return f"{namespace}.{name}"

    def compile(self, schema: Any, namespace: str | None) -> F:
        if isinstance(schema, str):
            if schema in self.primitives:
                return self.primitives[schema]
            name = self.full_name(schema, namespace)
            if name not in self.named:
                raise Unsupported(f"reference to undefined or recursive type {schema!r}")
            return self.named[name]
        if isinstance(schema, list):
            return self.union(schema, namespace)
        if not isinstance(schema, dict):
            raise Unsupported(f"schema node {schema!r}")
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical is not None:
            found = self.logical.get((str(kind), str(logical)))
            if found is None:
                raise Unsupported(f"logical type {logical!r}")
            return found
        if kind == "record":
            name, inner = self.register(schema, namespace)
            fields = tuple(
                (str(f["name"]), self.compile(f["type"], inner)) for f in schema.get("fields", ())
            )
            built = self.record(name, fields)
            self.named[name] = built
            return built
        if kind == "enum":
            name, _ = self.register(schema, namespace)
            built = self.enum(tuple(str(s) for s in schema["symbols"]))
            self.named[name] = built
            return built
        if kind == "array":
            return self.array(self.compile(schema["items"], namespace))
        if isinstance(kind, str) and kind in self.primitives and len(schema) == 1:
            return self.primitives[kind]
        raise Unsupported(f"schema type {kind!r}")

    def register(self, schema: dict[str, Any], namespace: str | None) -> tuple[str, str | None]:
        """The full name of a named type being defined, and the namespace inside it."""
        name = self.full_name(str(schema["name"]), schema.get("namespace", namespace))
        if name in self.named:
            raise Unsupported(f"type {name} defined twice")
        return name, name.rpartition(".")[0] or None

    def record(self, name: str, fields: tuple[tuple[str, F], ...]) -> F:
        raise NotImplementedError

    def enum(self, symbols: tuple[str, ...]) -> F:
        raise NotImplementedError

    def array(self, item: F) -> F:
        raise NotImplementedError

    def union(self, schema: list[Any], namespace: str | None) -> F:
        raise NotImplementedError


__all__ = ["SchemaCompiler", "Unsupported"]
