"""What is already landed: SQL on the pipeline's destination (ids, counts, soft deletes).

Used while the source extracts (``dlt.current.pipeline()``) to find which deleted ids are
present, and after a load for the row counts. Every function returns an empty answer when the
table does not exist yet (first load) and raises :class:`LandedQueryUnsupported` for a
destination without an SQL client (then deletes are logged as not applied).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

__all__ = [
    "DELETED_AT_COLUMN",
    "LandedQueryUnsupported",
    "all_ids",
    "existing_ids",
    "row_count",
    "soft_delete",
]

DELETED_AT_COLUMN = "_aha_deleted_at"
_CHUNK = 500


class LandedQueryUnsupported(Exception):
    """The destination has no SQL client (e.g. plain files)."""


def _client(pipeline: dlt.Pipeline) -> Any:
    try:
        return pipeline.sql_client()
    except Exception as exc:  # dlt raises several types for "no SQL here"
        raise LandedQueryUnsupported(str(exc)) from exc


def _has_table(pipeline: dlt.Pipeline, table: str) -> bool:
    try:
        schema = pipeline.default_schema
    except Exception:
        return False
    return table in schema.tables and bool(schema.tables[table].get("columns"))


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def _rows(pipeline: dlt.Pipeline, sql_fn: Any) -> list[tuple[Any, ...]]:
    with _client(pipeline) as client:
        try:
            return sql_fn(client)
        except DatabaseUndefinedRelation:
            return []


def all_ids(pipeline: dlt.Pipeline, table: str, *, live_only: bool = False) -> set[str]:
    """Every ``id`` in ``table`` (with ``live_only``: not soft-deleted)."""
    if not _has_table(pipeline, table):
        return set()

    def run(client: Any) -> list[tuple[Any, ...]]:
        name = client.make_qualified_table_name(table)
        where = f" WHERE {DELETED_AT_COLUMN} IS NULL" if live_only else ""
        return client.execute_sql(f"SELECT id FROM {name}{where}") or []  # noqa: S608

    return {str(r[0]) for r in _rows(pipeline, run)}


def existing_ids(
    pipeline: dlt.Pipeline,
    table: str,
    *,
    ids: Iterable[str] = (),
    references: Iterable[str] = (),
    live_only: bool = False,
) -> set[str]:
    """The ids of ``table`` among ``ids``, plus those whose ``reference_num`` is in
    ``references`` (when the table has that column)."""
    id_list = sorted(set(ids))
    ref_list = sorted(set(references))
    if not _has_table(pipeline, table) or not (id_list or ref_list):
        return set()
    columns = pipeline.default_schema.tables[table].get("columns", {})
    if "reference_num" not in columns:
        ref_list = []
    live = f" AND {DELETED_AT_COLUMN} IS NULL" if live_only else ""

    def run(client: Any) -> list[tuple[Any, ...]]:
        name = client.make_qualified_table_name(table)
        out: list[tuple[Any, ...]] = []
        for column, values in (("id", id_list), ("reference_num", ref_list)):
            for chunk in _chunks(values):
                marks = ", ".join(["%s"] * len(chunk))
                sql = f"SELECT id FROM {name} WHERE {column} IN ({marks}){live}"  # noqa: S608
                out.extend(client.execute_sql(sql, *chunk) or [])
        return out

    return {str(r[0]) for r in _rows(pipeline, run)}


def soft_delete(pipeline: dlt.Pipeline, table: str, stamps: dict[str, datetime]) -> int:
    """Set ``_aha_deleted_at`` on the rows of ``stamps`` (id -> deletion time) that are live."""
    if not stamps or not _has_table(pipeline, table):
        return 0
    done = 0
    with _client(pipeline) as client:
        name = client.make_qualified_table_name(table)
        for rid, stamp in sorted(stamps.items()):
            sql = (
                f"UPDATE {name} SET {DELETED_AT_COLUMN} = %s "  # noqa: S608
                f"WHERE id = %s AND {DELETED_AT_COLUMN} IS NULL"
            )
            client.execute_sql(sql, stamp, rid)
            done += 1
    return done


def row_count(pipeline: dlt.Pipeline, table: str, *, live_only: bool = False) -> int | None:
    """Rows in ``table`` (``None`` when it cannot be counted)."""
    if not _has_table(pipeline, table):
        return 0
    try:

        def run(client: Any) -> list[tuple[Any, ...]]:
            name = client.make_qualified_table_name(table)
            where = f" WHERE {DELETED_AT_COLUMN} IS NULL" if live_only else ""
            return client.execute_sql(f"SELECT count(*) FROM {name}{where}") or []  # noqa: S608

        rows = _rows(pipeline, run)
    except LandedQueryUnsupported:
        return None
    return int(rows[0][0]) if rows else 0
