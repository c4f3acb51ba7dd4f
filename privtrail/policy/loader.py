"""Load a policy YAML file into a :class:`Policy`, with errors that name the line.

PyYAML's composer gives every node a start mark; we walk the node tree once to map each
path in the document (``("contexts", "analytics", "items", 0)``) to its line, and turn
pydantic's error locations and our reference checks into ``PolicyError(path=, line=)``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from privtrail.errors import PolicyError
from privtrail.policy.models import Policy

Loc = tuple[str | int, ...]


def _line_map(node: yaml.Node, path: str) -> dict[Loc, int]:
    """Path -> 1-based line; a mapping entry points at its key's line."""
    lines: dict[Loc, int] = {(): node.start_mark.line + 1}

    def walk(n: yaml.Node, loc: Loc) -> None:
        if isinstance(n, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in n.value:
                key = key_node.value
                line = key_node.start_mark.line + 1
                if key in seen:
                    # PyYAML would silently keep the last one; a policy must not be ambiguous.
                    raise PolicyError(
                        f"duplicate key {key!r} (first at line {seen[key]})", path=path, line=line
                    )
                seen[key] = line
                lines[(*loc, key)] = line
                walk(value_node, (*loc, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                lines[(*loc, i)] = item.start_mark.line + 1
                walk(item, (*loc, i))

    walk(node, ())
    return lines


def _line_of(lines: dict[Loc, int], loc: Loc) -> int:
    """The line of the longest prefix of ``loc`` present in the document."""
    for end in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return 1


def _dotted(loc: Loc) -> str:
    return ".".join(str(part) for part in loc) or "(document)"


def parse_policy(text: str, *, path: str = "<policy>") -> Policy:
    """Validate policy YAML text; ``path`` is only used in error messages."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise PolicyError("the policy file is empty", path=path, line=1)
        lines = _line_map(node, path)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(f"invalid YAML: {exc.problem or exc}", path=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"invalid YAML: {exc}", path=path) from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise PolicyError("the policy must be a YAML mapping", path=path, line=1)
    try:
        policy = Policy.model_validate(data, context={"defer_references": True})
    except ValidationError as exc:
        errors = exc.errors()
        # Prefer an error whose location exists in the file (a misspelt key) over one
        # that only names its parent (the key it should have been).
        err = next((e for e in errors if tuple(e["loc"]) in lines), errors[0])
        loc: Loc = tuple(err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        more = exc.error_count() - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise PolicyError(
            f"{_dotted(loc)}: {message}{suffix}", path=path, line=_line_of(lines, loc)
        ) from exc
    problems = policy.reference_problems()
    if problems:
        loc, message = problems[0]
        more = len(problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise PolicyError(
            f"{_dotted(loc)}: {message}{suffix}", path=path, line=_line_of(lines, loc)
        )
    return policy


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raise :class:`PolicyError` naming the bad line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file: {exc.strerror or exc}", path=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise PolicyError("policy file is not UTF-8", path=str(p)) from exc
    return parse_policy(text, path=str(p))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The bundled COLABOX policy (``privtrail/policy/colabox.yaml``), loaded once."""
    text = resources.files("privtrail.policy").joinpath("colabox.yaml").read_text("utf-8")
    return parse_policy(text, path="colabox.yaml")
