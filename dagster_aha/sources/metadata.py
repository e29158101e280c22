"""Metadata helpers: the ``aha/`` metadata namespace, column-schema inference, row previews."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dagster import (
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
)

# Not re-exported at the top level of dagster 1.13; the documented metadata-set classes.
from dagster._core.definitions.metadata import NamespacedMetadataSet

__all__ = [
    "AhaMetadataSet",
    "infer_column_schema",
    "json_native_rows",
    "markdown_preview",
]


class AhaMetadataSet(NamespacedMetadataSet):
    """Metadata in the ``aha/`` namespace.

    Definition-time entries (on the asset spec): ``stream``, ``record_key``, ``list_path``,
    ``fields``, ``incremental``, ``partitioned_by``, ``product_id``, ``table_key``,
    ``report_id``, ``view``, ``value``.

    Materialization entries: ``sync_mode`` (``incremental`` or ``full``), ``cursor`` (max
    ``updated_at`` seen so far), ``updated_since`` (what was asked), ``requests``, ``pages``,
    ``duration_s``, ``records_per_s``.
    """

    stream: str | None = None
    record_key: str | None = None
    list_path: str | None = None
    fields: str | None = None
    incremental: bool | None = None
    partitioned_by: str | None = None
    product_id: str | None = None
    table_key: str | None = None
    report_id: str | None = None
    view: str | None = None
    value: str | None = None

    sync_mode: str | None = None
    cursor: str | None = None
    updated_since: str | None = None
    requests: int | None = None
    pages: int | None = None
    duration_s: float | None = None
    records_per_s: float | None = None

    @classmethod
    def namespace(cls) -> str:
        return "aha"


def _is_id_key(key: str) -> bool:
    return key == "id" or key.endswith("_id")


def _native(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {str(k): _native(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_native(v, key) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return str(value) if key is not None and _is_id_key(key) else value
    # Anything else (a model, a datetime...) becomes its JSON-friendly string form.
    return str(value)


def json_native_in_place(record: dict[str, Any]) -> dict[str, Any]:
    """Make one freshly parsed record JSON-native without copying it (ids become strings).

    The read path converts each record as it streams in, so no second copy of the account's
    records is ever built. Same result as :func:`json_native_rows` on one record, but nothing
    is rebuilt: the walk only rewrites the values that change (an integer under ``id`` /
    ``*_id``, or a value JSON has no type for), which a parsed Aha! record rarely has.
    """
    # (container, whether it sits under an id key): a list under ``x_id`` holds ids
    stack: list[tuple[Any, bool]] = [(record, False)]
    pop, push = stack.pop, stack.append
    while stack:
        node, id_list = pop()
        if type(node) is dict:
            for key, value in node.items():
                t = type(value)
                if t is str or t is dict or value is None or t is float or t is bool:
                    if t is dict:
                        push((value, False))
                    continue
                is_id = type(key) is str and _is_id_key(key)
                if t is list:
                    push((value, is_id))
                elif t is int:
                    if is_id:
                        node[key] = str(value)
                else:
                    node[key] = _native(value, str(key))  # a tuple, a model, a datetime...
        else:
            for i, value in enumerate(node):
                t = type(value)
                if t is str or value is None or t is float or t is bool:
                    continue
                if t is dict or t is list:
                    push((value, id_list and t is list))
                elif t is int:
                    if id_list:
                        node[i] = str(value)
                else:
                    node[i] = _native(value, "id" if id_list else None)
    return record


def json_native_rows(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copy records into JSON-native dicts, turning integer ``id`` / ``*_id`` values into strings.

    Aha! ids exceed 2**53; keeping them as strings stops dataframes from turning them into
    floats.
    """
    return [_native(dict(r)) for r in records]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    dict: "object",
    list: "array",
}


def infer_column_schema(rows: Sequence[Mapping[str, Any]]) -> TableSchema:
    """Infer a ``TableSchema`` from JSON rows.

    Columns are the union of the rows' keys in order of first appearance. A column's type is the
    JSON type of its non-null values (``"integer|number"`` style when they disagree, ``"null"``
    when every value is null); it is nullable when a row lacks it or holds null. ``id`` is marked
    unique when its values are.
    """
    types: dict[str, dict[str, None]] = {}  # in order of first appearance
    nullable: dict[str, bool] = {}
    present: dict[str, int] = {}  # rows holding the key
    for row in rows:
        for key, value in row.items():
            seen = types.get(key)
            if seen is None:
                seen = types[key] = {}
                nullable[key] = False
                present[key] = 0
            present[key] += 1
            if value is None:
                nullable[key] = True
            else:
                seen[_JSON_TYPES.get(type(value)) or _json_type(value)] = None
    for key, count in present.items():
        if count < len(rows):
            nullable[key] = True  # some row lacks it
    order = types
    columns = []
    for key in order:
        type_name = "|".join(types[key]) or "null"
        unique = False
        if key == "id":
            ids = [row.get("id") for row in rows]
            unique = len({str(i) for i in ids}) == len(ids)
        columns.append(
            TableColumn(
                name=key,
                type=type_name,
                constraints=TableColumnConstraints(nullable=nullable[key], unique=unique),
            )
        )
    return TableSchema(columns=columns)


_PREVIEW_PREFERRED = (
    "id",
    "reference_num",
    "reference_prefix",
    "name",
    "email",
    "workflow_status",
    "updated_at",
)


def _cell(value: Any, width: int = 40) -> str:
    if isinstance(value, dict):
        # Show references by their name (workflow_status, release, epic...).
        shown = value.get("name", value.get("reference_num", value.get("id", "{…}")))
        text = str(shown)
    elif isinstance(value, list):
        text = f"[{len(value)} items]"
    elif value is None:
        text = ""
    else:
        text = str(value)
    text = text.replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text


def markdown_preview(
    rows: Sequence[Mapping[str, Any]],
    *,
    limit: int = 5,
    columns: Sequence[str] | None = None,
    max_columns: int = 8,
) -> MetadataValue:
    """A markdown table of the first ``limit`` rows (identifying columns first)."""
    if not rows:
        return MetadataValue.md("_No rows._")
    if columns is None:
        keys: dict[str, None] = {}
        for row in rows[:limit]:
            for key in row:
                keys[key] = None
        preferred = [c for c in _PREVIEW_PREFERRED if c in keys]
        rest = [c for c in keys if c not in preferred]
        columns = (preferred + rest)[:max_columns]
    header = "| " + " | ".join(_cell(c) for c in columns) + " |"
    rule = "|" + "---|" * len(columns)
    lines = [header, rule]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    if len(rows) > limit:
        lines.append(f"\n_{limit} of {len(rows)} rows._")
    return MetadataValue.md("\n".join(lines))
