"""The landing zone: Aha! records (``list[dict]``) into DuckDB tables.

``DuckDBRecordsIOManager`` writes each asset to ``<schema>.<table>`` where the schema is the asset
key's prefix (``aha``) and the table its last part (``features``):

* a full read (``aha/sync_mode`` = ``full``, or no sync mode) replaces the table;
* an incremental read (``aha/sync_mode`` = ``incremental``) is MERGED by ``id``: a record that
  comes back updated replaces its row, a new record adds one, nothing is ever duplicated (a
  partitioned asset, e.g. one product, is always merged).

Scalar fields keep their type (VARCHAR, BIGINT, DOUBLE, BOOLEAN); nested objects and lists
(``workflow_status``, ``custom_fields``, ``release``...) are stored as DuckDB ``JSON`` so they can
be queried with ``->>``: ``SELECT workflow_status->>'name' FROM aha.features``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

__all__ = ["DuckDBRecordsIOManager", "land_records", "qualified_table", "read_table"]

_SYNC_MODE_KEY = "aha/sync_mode"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def qualified_table(asset_key: dg.AssetKey, default_schema: str = "main") -> tuple[str, str]:
    """``(schema, table)`` of an asset key: the prefix joined with ``_``, then the last part."""
    path = list(asset_key.path)
    schema = "_".join(path[:-1]) or default_schema
    return schema, path[-1]


def _column_type(values: Sequence[Any]) -> str:
    kinds: set[str] = set()
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            kinds.add("BOOLEAN")
        elif isinstance(value, int):
            kinds.add("BIGINT")
        elif isinstance(value, float):
            kinds.add("DOUBLE")
        elif isinstance(value, (dict, list, tuple)):
            kinds.add("JSON")
        else:
            kinds.add("VARCHAR")
    if not kinds:
        return "VARCHAR"
    if kinds == {"BIGINT", "DOUBLE"}:
        return "DOUBLE"
    if len(kinds) == 1:
        return kinds.pop()
    return "JSON" if "JSON" in kinds else "VARCHAR"


def _schema_of(records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    columns: dict[str, list[Any]] = {}
    for record in records:
        for key, value in record.items():
            columns.setdefault(str(key), []).append(value)
    return {name: _column_type(values) for name, values in columns.items()}


def _cell(value: Any, column_type: str) -> Any:
    if value is None:
        return None
    if column_type == "JSON":
        return json.dumps(value, default=str)
    if column_type == "VARCHAR" and not isinstance(value, str):
        return json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
    return value


def _stage(
    conn: duckdb.DuckDBPyConnection, records: Sequence[Mapping[str, Any]], columns: dict[str, str]
) -> None:
    """Load ``records`` into the temporary table ``_aha_stage`` with the given column types."""
    conn.execute("DROP TABLE IF EXISTS _aha_stage")
    # Records go through a newline-delimited JSON file read with explicit column types: one bulk
    # load, whatever the number of rows (executemany is row-by-row).
    fd, path = tempfile.mkstemp(prefix="aha_stage_", suffix=".ndjson")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for record in records:
                row = {name: _cell(record.get(name), kind) for name, kind in columns.items()}
                handle.write(json.dumps(row, default=str))
                handle.write("\n")
        # Nested values were serialised to strings above; read them as VARCHAR, then cast.
        read_types = {
            name: ("VARCHAR" if kind == "JSON" else kind) for name, kind in columns.items()
        }
        struct = (
            "{" + ", ".join(f"{_literal(n)}: {_literal(t)}" for n, t in read_types.items()) + "}"
        )
        select = ", ".join(
            f"CAST({_quote(n)} AS JSON) AS {_quote(n)}" if t == "JSON" else _quote(n)
            for n, t in columns.items()
        )
        conn.execute(
            f"CREATE TEMP TABLE _aha_stage AS SELECT {select} FROM read_json(?, "  # noqa: S608
            f"format='newline_delimited', columns={struct})",
            [path],
        )
    finally:
        os.unlink(path)


def land_records(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    records: Sequence[Mapping[str, Any]],
    *,
    merge_on: str | None = None,
) -> int:
    """Write ``records`` to ``schema.table``; returns the table's row count afterwards.

    ``merge_on=None`` replaces the table. ``merge_on="id"`` deletes the rows whose id comes back
    and inserts the new versions (columns the table does not have yet are added).
    """
    target = f"{_quote(schema)}.{_quote(table)}"
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
    columns = _schema_of(records)
    if merge_on is not None:
        columns.setdefault(merge_on, "VARCHAR")
    exists = bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = ?",
            [schema, table],
        ).fetchone()[0]  # type: ignore[index]
    )
    if merge_on is None or not exists:
        if not columns:
            # Nothing to infer a schema from: keep an existing table's shape, empty it.
            if exists:
                conn.execute(f"DELETE FROM {target}")  # noqa: S608
            else:
                conn.execute(f"CREATE TABLE {target} (id VARCHAR)")
            return 0
        _stage(conn, records, columns)
        conn.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM _aha_stage")  # noqa: S608
    elif records:
        existing = {
            str(row[0]): str(row[1])
            for row in conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                [schema, table],
            ).fetchall()
        }
        stage_types: dict[str, str] = {}
        for name, kind in columns.items():
            current = existing.get(name)
            if current is None:
                conn.execute(f"ALTER TABLE {target} ADD COLUMN {_quote(name)} {kind}")
                stage_types[name] = kind
            elif current == kind or current in ("VARCHAR", "JSON"):
                stage_types[name] = current
            else:
                # A batch disagrees with the column's type (BIGINT then DOUBLE, a number then a
                # string...): widen the column rather than fail or lose the value.
                widened = "DOUBLE" if {current, kind} == {"BIGINT", "DOUBLE"} else "VARCHAR"
                conn.execute(f"ALTER TABLE {target} ALTER {_quote(name)} TYPE {widened}")
                stage_types[name] = widened
        _stage(conn, records, stage_types)
        key = _quote(merge_on)
        conn.execute(
            f"DELETE FROM {target} WHERE {key} IN (SELECT {key} FROM _aha_stage)"  # noqa: S608
        )
        conn.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _aha_stage")  # noqa: S608
    conn.execute("DROP TABLE IF EXISTS _aha_stage")
    count = conn.execute(f"SELECT count(*) FROM {target}").fetchone()  # noqa: S608
    return int(count[0]) if count else 0


def read_table(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[dict[str, Any]]:
    """All rows of ``schema.table`` as dicts; JSON columns come back parsed."""
    relation = conn.execute(f"SELECT * FROM {_quote(schema)}.{_quote(table)}")  # noqa: S608
    names = [d[0] for d in relation.description or []]
    values_list = relation.fetchall()
    json_columns = {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? AND data_type = 'JSON'",
            [schema, table],
        ).fetchall()
    }
    rows: list[dict[str, Any]] = []
    for values in values_list:
        row = dict(zip(names, values, strict=True))
        for name in json_columns:
            if isinstance(row.get(name), str):
                row[name] = json.loads(row[name])
        rows.append(row)
    return rows


class DuckDBRecordsIOManager(dg.ConfigurableIOManager):
    """Lands ``list[dict]`` outputs in DuckDB; incremental Aha! reads are merged by ``id``."""

    database: str = Field(description="Path of the DuckDB file (created on first write).")
    merge_key: str = Field(
        default="id", description="Column incremental loads are merged on (Aha! record id)."
    )

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # DuckDBResource retries while another process holds the file's write lock.
        with DuckDBResource(database=self.database).get_connection() as conn:
            yield conn

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if not isinstance(obj, (list, tuple)):
            key = context.asset_key.to_user_string()
            raise TypeError(
                f"DuckDBRecordsIOManager stores lists of records; {key} returned "
                f"{type(obj).__name__}"
            )
        records = [dict(r) for r in obj]
        schema, table = qualified_table(context.asset_key)
        sync_mode = context.output_metadata.get(_SYNC_MODE_KEY)
        mode_value = getattr(sync_mode, "value", sync_mode)
        # A partition (one product) never replaces the table holding the other partitions.
        incremental = mode_value == "incremental" or context.has_partition_key
        merge_on = self.merge_key if incremental else None
        with self._connect() as conn:
            total = land_records(conn, schema, table, records, merge_on=merge_on)
        context.log.info(
            f"DuckDB {self.database}: {'merged' if merge_on else 'replaced'} {len(records)} "
            f"record(s) into {schema}.{table} ({total} row(s) in the table)"
        )
        context.add_output_metadata(
            {
                "duckdb/table": f"{schema}.{table}",
                "duckdb/write_mode": "merge" if merge_on else "replace",
                "duckdb/table_row_count": total,
            }
        )

    def load_input(self, context: dg.InputContext) -> list[dict[str, Any]]:
        schema, table = qualified_table(context.asset_key)
        with self._connect() as conn:
            return read_table(conn, schema, table)
