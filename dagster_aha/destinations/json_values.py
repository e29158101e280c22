"""Upstream values -> JSON-native values for request bodies, and the per-record error.

Dataframe and warehouse rows carry datetimes, Decimals, UUIDs, enums, sets and numpy scalars;
:func:`to_json_native` turns them into what JSON carries, or raises :class:`RecordError` naming
the field (the record then gets a ``failed`` outcome; the other records go on).
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["RecordError", "to_json_native"]


class RecordError(ValueError):
    """One record cannot be rendered; becomes a ``failed`` outcome (other records continue)."""


def _decimal_to_json(value: Decimal, where: str) -> int | float | str:
    if not value.is_finite():
        raise RecordError(f"{where}: {value} is not a finite number (JSON cannot carry it)")
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) == value:
        return as_float
    return str(value)


def to_json_native(value: Any, where: str = "record") -> Any:
    """Convert a value to JSON-native types, or raise :class:`RecordError` with the field path.

    datetime/date/time -> ISO 8601 string; Decimal -> int/float (str when a float would lose
    precision); UUID -> str; Enum -> its value; tuple/set/frozenset -> list (sets sorted when
    possible); numpy-like scalars (``.item()``) -> Python scalars. NaN/inf and other types
    (bytes, arbitrary objects) are refused.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RecordError(f"{where}: {value!r} is not a finite number (JSON cannot carry it)")
        return value
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _decimal_to_json(value, where)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_json_native(value.value, where)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise RecordError(f"{where}: key {k!r} is not a string")
            out[k] = to_json_native(v, f"{where}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [to_json_native(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [to_json_native(v, f"{where}[]") for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__.startswith("numpy"):
        return to_json_native(item(), where)
    raise RecordError(
        f"{where}: value of type {type(value).__name__} is not JSON-serialisable "
        "(convert it in a transform or exclude the attribute)"
    )
