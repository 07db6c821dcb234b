"""An integer on the wire that may arrive as an integral float, for every protocol."""

from __future__ import annotations


class Integer(int):
    """An integer on the wire that may arrive as an integral float (`1024.0`, as
    JavaScript clients may send); `http/requests.py`'s decoder builds it and refuses
    anything else (`1.5` is a 400 naming the field). msgspec does not encode this
    subclass: pass `int(value)` on."""


def plain_int(value: int | None) -> int | None:
    """A decoded `Integer` (or None) as a plain int that msgspec can encode."""
    return None if value is None else int(value)
