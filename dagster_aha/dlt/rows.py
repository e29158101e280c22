"""Aha! records as rows that are easy to query once landed.

* nested objects are flattened into ``parent__child`` columns (``workflow_status__name``,
  ``release__reference_num``), up to :data:`MAX_FLATTEN_DEPTH` levels; lists stay one JSON
  column each (``tags``, ``goals``): no child tables;
* ``custom_fields`` (Aha!'s list of ``{key, name, value, type}``) becomes one column per key,
  ``custom_fields__<key>``, typed from the field's ``type`` where it is known (numbers, dates,
  booleans; lists and objects are JSON);
* ids are strings (Aha! ids exceed 2**53): ``id``, ``*_id`` and ``*_ids`` values at any depth;
* ``None`` values are left out (a missing column is NULL; the row is replaced on merge).

The record dicts are converted in place (they come fresh from the JSON parser): no copy of the
record is kept.
"""

from __future__ import annotations

from typing import Any, cast

import dlt
from dlt.common.normalizers.naming.snake_case import NamingConvention

__all__ = ["CUSTOM_FIELDS_PREFIX", "MAX_FLATTEN_DEPTH", "RowShaper", "with_hints"]

MAX_FLATTEN_DEPTH = 3
CUSTOM_FIELDS_PREFIX = "custom_fields__"

_NAMING = NamingConvention()

#: Aha! custom field ``type`` -> dlt data type (types not listed land as text, or JSON when the
#: value is a list or an object).
_CUSTOM_FIELD_TYPES: dict[str, str] = {
    "number": "double",
    "integer": "double",
    "float": "double",
    "decimal": "double",
    "currency": "double",
    "percent": "double",
    "score": "double",
    "date": "date",
    "datetime": "timestamp",
    "timestamp": "timestamp",
    "boolean": "bool",
    "checkbox": "bool",
    "array": "json",
    "tags": "json",
    "users": "json",
    "records": "json",
    "multi_select": "json",
}


def _is_id_key(key: str) -> bool:
    return key == "id" or key.endswith(("_id", "_ids"))


def _ids_to_str(value: Any, is_id: bool = False) -> Any:
    """``value`` (a list or dict, changed in place where it is a dict) with every int under an
    ``id`` / ``*_id`` key as a string; ``is_id``: the key ``value`` itself sits under."""
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None or isinstance(v, str):
                continue
            value[k] = _ids_to_str(v, _is_id_key(k))
        return value
    if isinstance(value, list):
        return [v if v is None or isinstance(v, str) else _ids_to_str(v, is_id) for v in value]
    if is_id and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


#: column names are cached per (prefix, key) up to this many (a record's keys repeat)
_MAX_CACHED_COLUMNS = 20_000


class RowShaper:
    """Shapes the records of one table; remembers the column hints it has handed out.

    The hot path of a landing (every key of every record passes here): column names are
    computed once per (prefix, key) and cached, plain values take no function call."""

    def __init__(self) -> None:
        self._hinted: set[str] = set()
        # prefix -> key -> (column, key is an id key)
        self._columns: dict[str, dict[str, tuple[str, bool]]] = {}
        self._cached = 0

    def _column(self, prefix: str, key: str) -> tuple[str, bool]:
        by_key = self._columns.setdefault(prefix, {})
        cached = by_key.get(key)
        if cached is not None:
            return cached
        name = _NAMING.normalize_identifier(key)
        out = (f"{prefix}__{name}" if prefix else name, _is_id_key(key))
        if self._cached < _MAX_CACHED_COLUMNS:
            by_key[key] = out
            self._cached += 1
        return out

    def shape(self, record: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``(row, new_column_hints)`` for one record (``record`` is consumed)."""
        row: dict[str, Any] = {}
        hints: list[dict[str, Any]] = []
        self._shape(record, "", row, hints, 0)
        return row, hints

    def _shape(
        self,
        value: dict[str, Any],
        prefix: str,
        row: dict[str, Any],
        hints: list[dict[str, Any]],
        depth: int,
    ) -> None:
        columns = self._columns.get(prefix) or {}
        for key, inner in value.items():
            if inner is None:
                continue
            cached = columns.get(key)
            column, is_id = cached if cached is not None else self._column(prefix, key)
            kind = type(inner)
            if kind is str or kind is float or kind is bool:
                row[column] = inner
            elif kind is int:
                row[column] = str(inner) if is_id else inner
            elif isinstance(inner, dict):
                if depth < MAX_FLATTEN_DEPTH:
                    self._shape(inner, column, row, hints, depth + 1)
                else:
                    self._put(row, hints, column, inner, is_id)
            elif depth == 0 and key == "custom_fields" and isinstance(inner, list):
                self._custom_fields(inner, row, hints)
            else:
                self._put(row, hints, column, inner, is_id)

    def _put(
        self,
        row: dict[str, Any],
        hints: list[dict[str, Any]],
        column: str,
        value: Any,
        is_id: bool,
        data_type: str | None = None,
    ) -> None:
        if isinstance(value, (list, dict)):
            value = _ids_to_str(value, is_id)
            data_type = "json"
        elif is_id and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        row[column] = value
        if data_type is not None and column not in self._hinted:
            self._hinted.add(column)
            hints.append({"name": column, "data_type": data_type, "nullable": True})

    def _custom_fields(
        self, fields: list[Any], row: dict[str, Any], hints: list[dict[str, Any]]
    ) -> None:
        for field in fields:
            if not isinstance(field, dict) or not isinstance(field.get("key"), str):
                continue
            value = field.get("value")
            if value is None or value == "":
                continue
            data_type = _CUSTOM_FIELD_TYPES.get(str(field.get("type") or "").lower())
            if data_type == "double":
                value = _number(value)
                if isinstance(value, str):
                    data_type = None  # not a number after all: let dlt keep it as text
            elif data_type == "bool" and not isinstance(value, bool):
                data_type = None
            column, is_id = self._column(CUSTOM_FIELDS_PREFIX[:-2], field["key"])
            self._put(row, hints, column, value, is_id, data_type)


def with_hints(batch: list[dict[str, Any]], hints: list[dict[str, Any]]) -> Any:
    """A batch of rows to yield to dlt, carrying the new column hints of its rows."""
    if not hints:
        return batch
    return dlt.mark.with_hints(batch, dlt.mark.make_hints(columns=cast(Any, hints)))
