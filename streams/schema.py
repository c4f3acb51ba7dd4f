"""The worker's topics carry bytes; their Faust schema hands them over untouched.

Faust decodes every record's key and value through its serializer registry even for
the ``raw`` codec (a codec lookup, ``want_bytes``, a type dispatch, error wrapping):
about one per cent of the worker's CPU. For ``bytes`` keys and values that all returns
the message's own bytes (or None), so :class:`RawSchema` returns them directly.
Encoding is unchanged (the worker sends through the producer, not through topics).
"""

from __future__ import annotations

from typing import Any

import faust


class RawSchema(faust.Schema[bytes, bytes]):
    """Keys and values as the bytes in the record, as the ``raw`` codec gives them."""

    def __init__(self) -> None:
        super().__init__(
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    def loads_key(
        self, app: Any, message: Any, *, loads: Any = None, serializer: Any = None
    ) -> Any:
        return message.key

    def loads_value(
        self, app: Any, message: Any, *, loads: Any = None, serializer: Any = None
    ) -> Any:
        return message.value
