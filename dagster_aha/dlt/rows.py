"""Aha! records as rows that are easy to query once landed.

* nested objects are flattened into ``parent__child`` columns (``workflow_status__name``,
  ``release__reference_num``), up to :data:`MAX_FLATTEN_DEPTH` levels; lists stay one JSON
  column each (``tags``, ``goals``): no child tables;
* ``custom_fields`` (Aha!'s list of ``{key, name, value, type}``) becomes one column per key,
  ``custom_fields__<key>``, typed from the field's ``type`` where it is known (numbers, dates,
  booleans; lists and objects are JSON);
* ids are strings (Aha! ids exceed 2**53): ``id`` and ``*_id`` values at any depth;
* ``None`` values are left out (a missing column is NULL; the row is replaced on merge).

The record dicts are converted in place (they come fresh from the JSON parser): no copy of the
record is kept.
"""

from __future__ import annotations

from typing import Any

from dlt.common.normalizers.naming.snake_case import NamingConvention

__all__ = ["CUSTOM_FIELDS_PREFIX", "MAX_FLATTEN_DEPTH", "RowShaper"]

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
    return key == "id" or key.endswith("_id")


def _ids_to_str(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        for k, v in value.items():
            value[k] = _ids_to_str(v, k)
        return value
    if isinstance(value, list):
        return [_ids_to_str(v, key) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and key and _is_id_key(key):
        return str(value)
    return value


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


class RowShaper:
    """Shapes the records of one table; remembers the column hints it has handed out."""

    def __init__(self) -> None:
        self._hinted: set[str] = set()

    def shape(self, record: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``(row, new_column_hints)`` for one record (``record`` is consumed)."""
        row: dict[str, Any] = {}
        hints: list[dict[str, Any]] = []
        for key, value in record.items():
            if value is None:
                continue
            if key == "custom_fields" and isinstance(value, list):
                self._custom_fields(value, row, hints)
            elif isinstance(value, dict):
                self._flatten(_NAMING.normalize_identifier(key), value, row, hints, 1)
            else:
                self._put(row, hints, _NAMING.normalize_identifier(key), value, key)
        return row, hints

    def _put(
        self,
        row: dict[str, Any],
        hints: list[dict[str, Any]],
        column: str,
        value: Any,
        key: str,
        data_type: str | None = None,
    ) -> None:
        if isinstance(value, (list, dict)):
            value = _ids_to_str(value, key)
            data_type = "json"
        elif isinstance(value, int) and not isinstance(value, bool) and _is_id_key(key):
            value = str(value)
        row[column] = value
        if data_type is not None and column not in self._hinted:
            self._hinted.add(column)
            hints.append({"name": column, "data_type": data_type, "nullable": True})

    def _flatten(
        self,
        prefix: str,
        value: dict[str, Any],
        row: dict[str, Any],
        hints: list[dict[str, Any]],
        depth: int,
    ) -> None:
        for key, inner in value.items():
            if inner is None:
                continue
            column = f"{prefix}__{_NAMING.normalize_identifier(key)}"
            if isinstance(inner, dict) and depth < MAX_FLATTEN_DEPTH:
                self._flatten(column, inner, row, hints, depth + 1)
            else:
                self._put(row, hints, column, inner, key)

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
            column = CUSTOM_FIELDS_PREFIX + _NAMING.normalize_identifier(field["key"])
            self._put(row, hints, column, value, str(field["key"]), data_type)
