"""The DuckDB landing IO manager: full reads replace, incremental reads merge by id."""

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from aha_example.warehouse import DuckDBRecordsIOManager, land_records, read_table


def test_full_refresh_replaces_and_merge_updates_without_duplicates() -> None:
    conn = duckdb.connect()
    first = [
        {"id": "1", "name": "A", "score": 3, "workflow_status": {"name": "New"}, "tags": ["x"]},
        {"id": "2", "name": "B", "score": None, "workflow_status": {"name": "Done"}, "tags": []},
    ]
    assert land_records(conn, "aha", "features", first) == 2
    # An incremental batch: record 2 changed, record 3 is new, a new column appears and a
    # column changes type (BIGINT -> DOUBLE).
    delta = [
        {"id": "2", "name": "B2", "score": 2.5, "workflow_status": {"name": "Shipped"}, "x": True},
        {"id": "3", "name": "C", "score": 1},
    ]
    assert land_records(conn, "aha", "features", delta, merge_on="id") == 3
    rows = {r["id"]: r for r in read_table(conn, "aha", "features")}
    assert set(rows) == {"1", "2", "3"}
    assert rows["2"]["name"] == "B2"
    assert rows["2"]["workflow_status"] == {"name": "Shipped"}
    assert rows["2"]["score"] == 2.5 and rows["1"]["score"] == 3
    assert rows["2"]["x"] is True and rows["1"]["x"] is None
    assert rows["1"]["tags"] == ["x"]
    status = conn.execute(
        "SELECT workflow_status->>'name' FROM aha.features WHERE id = '2'"
    ).fetchone()
    assert status == ("Shipped",)
    # The same delta again changes nothing (idempotent).
    assert land_records(conn, "aha", "features", delta, merge_on="id") == 3
    # A full refresh replaces the table.
    assert land_records(conn, "aha", "features", [{"id": "9", "name": "Z"}]) == 1
    assert [r["id"] for r in read_table(conn, "aha", "features")] == ["9"]


def test_io_manager_uses_the_sync_mode_of_the_materialization(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    calls = {"n": 0}

    @dg.asset(key=["aha", "features"])
    def features() -> dg.MaterializeResult:
        calls["n"] += 1
        if calls["n"] == 1:
            rows: list[dict[str, Any]] = [{"id": "1", "v": 1}, {"id": "2", "v": 1}]
            return dg.MaterializeResult(value=rows, metadata={"aha/sync_mode": "full"})
        return dg.MaterializeResult(
            value=[{"id": "2", "v": 2}], metadata={"aha/sync_mode": "incremental"}
        )

    @dg.asset(key=["analytics", "copy"], ins={"rows": dg.AssetIn(key=["aha", "features"])})
    def copy(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return rows

    resources = {"io_manager": DuckDBRecordsIOManager(database=str(database))}
    with dg.instance_for_test() as instance:
        first = dg.materialize([features, copy], resources=resources, instance=instance)
        meta = first.asset_materializations_for_node("aha__features")[0].metadata
        assert meta["duckdb/write_mode"].value == "replace"
        second = dg.materialize([features, copy], resources=resources, instance=instance)
        meta = second.asset_materializations_for_node("aha__features")[0].metadata
        assert meta["duckdb/write_mode"].value == "merge"
        assert meta["duckdb/table_row_count"].value == 2
        # The downstream asset loaded the merged table through the IO manager.
        assert sorted((r["id"], r["v"]) for r in second.output_for_node("analytics__copy")) == [
            ("1", 1),
            ("2", 2),
        ]
    with duckdb.connect(str(database), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM analytics.copy").fetchone() == (2,)


def test_partitions_are_merged_not_replaced(tmp_path: Path) -> None:
    database = tmp_path / "p.duckdb"
    parts = dg.StaticPartitionsDefinition(["PRJ1", "PRJ2"])

    @dg.asset(key=["aha", "features"], partitions_def=parts)
    def features(context: dg.AssetExecutionContext) -> list[dict[str, Any]]:
        return [{"id": f"{context.partition_key}-1", "product": context.partition_key}]

    resources = {"io_manager": DuckDBRecordsIOManager(database=str(database))}
    with dg.instance_for_test() as instance:
        for key in ("PRJ1", "PRJ2", "PRJ1"):
            dg.materialize([features], resources=resources, instance=instance, partition_key=key)
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute("SELECT id FROM aha.features ORDER BY id").fetchall()
    assert rows == [("PRJ1-1",), ("PRJ2-1",)]
