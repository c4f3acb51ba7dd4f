"""Parameter types the queries use, and how a value (Python or CLI text) becomes one.

Only the types below are accepted in a header, so every parameter a query can take has a
converter here, and a bad value is refused in Python with a message naming the parameter
before anything reaches the server. Values are still bound by the server (``param_*``),
never spliced into the SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

_DT64_UTC = "DateTime64(6,'UTC')"


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def _uint32(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number, got a boolean")
    if isinstance(value, str):
        if not re.fullmatch(r"\d+", value.strip()):
            raise ValueError(f"expected a whole number >= 0, got {value!r}")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value < 2**32:
        raise ValueError(f"expected a whole number from 0 to 4294967295, got {value!r}")
    return value


def parse_instant(text: str) -> datetime:
    """RFC 3339 / ISO 8601 with a time zone (``2019-03-01T09:00:00+09:00``, ``...Z``), or a
    bare date (``2019-03-01``), which means midnight UTC."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"expected an RFC 3339 time such as 2019-03-01T00:00:00Z, got {text!r}"
        ) from exc
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; add Z or an offset such as +09:00")
    return value.astimezone(UTC)


def _instant(value: Any) -> str:
    instant: datetime
    if isinstance(value, str):
        instant = parse_instant(value)
    elif isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("datetime has no time zone")
        instant = value.astimezone(UTC)
    else:
        raise ValueError(f"expected a time, got {type(value).__name__}")
    # Sent as text the server parses with the parameter's type (UTC, microseconds), so the
    # driver's own time-zone handling of datetime objects never comes into play.
    return instant.strftime("%Y-%m-%d %H:%M:%S.%f")


def _items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [] if not value.strip() else [v.strip() for v in value.split(",")]
    if isinstance(value, Sequence):
        return list(value)
    raise ValueError(f"expected a list, got {type(value).__name__}")


def _array_string(value: Any) -> list[str]:
    return [_string(v) for v in _items(value)]


def _array_uint32(value: Any) -> list[int]:
    return [_uint32(v) for v in _items(value)]


def _pair(value: Any) -> tuple[str, str]:
    if isinstance(value, str):
        left, sep, right = value.partition(":")
        if not sep:
            raise ValueError(f"expected a pair written a:b, got {value!r}")
        return left, right
    if isinstance(value, Sequence) and len(value) == 2:
        return _string(value[0]), _string(value[1])
    raise ValueError(f"expected a pair of texts, got {value!r}")


def _array_pairs(value: Any) -> list[tuple[str, str]]:
    return [_pair(v) for v in _items(value)]


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "String": _string,
    "UInt32": _uint32,
    _DT64_UTC: _instant,
    "Array(String)": _array_string,
    "Array(UInt32)": _array_uint32,
    "Array(Tuple(String,String))": _array_pairs,
}


def _key(type_name: str) -> str:
    return re.sub(r"\s+", "", type_name)


def check_type(type_name: str) -> None:
    """Raise ``ValueError`` unless ``type_name`` is one the queries may use."""
    if _key(type_name) not in CONVERTERS:
        raise ValueError(
            f"type {type_name} is not supported; use one of " + ", ".join(sorted(CONVERTERS))
        )


def convert(type_name: str, value: Any) -> Any:
    """``value`` as what the driver binds for ``type_name``; ``ValueError`` when impossible."""
    check_type(type_name)
    return CONVERTERS[_key(type_name)](value)
