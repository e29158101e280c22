"""Incremental reads, forced full refresh, product partitions (static and dynamic), pivots."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest
from sources_helpers import get_paths, run

from dagster_aha import (
    aha_custom_table_asset,
    aha_pivot_report_asset,
    build_aha_assets,
    build_aha_product_partitions_sensor,
)
from dagster_aha.sources import AHA_PRODUCTS_PARTITIONS_NAME
from dagster_aha.sources.timestamps import format_ts as _format_ts
from dagster_aha.sources.timestamps import parse_ts as _parse_ts
from dagster_aha.testing import AhaSandbox

STREAMS = ("products", "releases", "features", "epics", "goals", "users")


def _cursor_minus(cursor: str, delta: timedelta) -> str:
    parsed = _parse_ts(cursor)
    assert parsed is not None
    return _format_ts(parsed - delta)


def test_second_run_reads_only_changed_records(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assets = build_aha_assets(streams=STREAMS, lookback=timedelta(0), incremental=True)
    first = run(assets, aha, instance=instance)
    cursors = {s: first.metadata(f"aha/{s}")["aha/cursor"] for s in STREAMS}
    assert {first.metadata(f"aha/{s}")["aha/sync_mode"] for s in STREAMS} == {"full"}

    changed_feature = aha.state.update_record("feature", "PRJ1-2", name="Renamed in Aha!")
    changed_epic = aha.state.update_record("epic", "PRJ2-E-1", name="Epic renamed")
    aha.clear_requests()

    second = run(assets, aha, instance=instance)
    features = second.rows("aha/features")
    assert [f["id"] for f in features] == [changed_feature["id"]]
    assert features[0]["name"] == "Renamed in Aha!"
    assert [e["id"] for e in second.rows("aha/epics")] == [changed_epic["id"]]
    assert second.rows("aha/releases") == []
    assert second.rows("aha/products") == []

    md = second.metadata("aha/features")
    assert md["aha/sync_mode"] == "incremental"
    assert md["aha/value"].startswith("delta")  # an explicit delta value says so
    assert md["aha/updated_since"] == cursors["features"]
    assert md["aha/cursor"] == changed_feature["updated_at"]
    assert md["dagster/row_count"] == 1
    # no change: the cursor is carried forward
    assert second.metadata("aha/releases")["aha/cursor"] == cursors["releases"]

    queries = {}
    for r in aha.requests:
        queries.setdefault(r.path, []).append(r.query)
    assert queries["features"][0]["updated_since"] == cursors["features"]
    assert queries["epics"][0]["updated_since"] == cursors["epics"]
    # products: the incremental read, plus the full id listing the releases need
    assert [(q.get("updated_since"), q["fields"]) for q in queries["products"]] == [
        (cursors["products"], queries["products"][0]["fields"]),
        (None, "id,reference_prefix"),
    ]
    for path, qs in queries.items():
        if path.endswith("/releases"):
            assert qs[0]["updated_since"] == cursors["releases"]
    # goals and users have no updated_since: always a full read
    assert "updated_since" not in queries["goals"][0]
    assert "updated_since" not in queries["users"][0]
    assert second.metadata("aha/goals")["aha/sync_mode"] == "full"
    assert len(second.rows("aha/goals")) == aha.state.count("goals")

    # forced full refresh through run config
    aha.clear_requests()
    third = run(
        assets,
        aha,
        instance=instance,
        run_config={"ops": {"aha_records": {"config": {"full_refresh": True}}}},
    )
    assert len(third.rows("aha/features")) == aha.state.count("features")
    assert third.metadata("aha/features")["aha/sync_mode"] == "full"
    assert "aha/updated_since" not in third.metadata("aha/features")
    assert not [r for r in aha.requests if "updated_since" in r.query]
    assert third.metadata("aha/features")["aha/cursor"] == changed_feature["updated_at"]


def test_default_lookback_overlaps_the_cursor(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assets = build_aha_assets(streams=["ideas"], incremental=True)
    cursor = run(assets, aha, instance=instance).metadata("aha/ideas")["aha/cursor"]
    aha.clear_requests()
    run(assets, aha, instance=instance)
    [request] = aha.requests
    assert request.query["updated_since"] == _cursor_minus(cursor, timedelta(minutes=5))


def test_by_default_every_stored_value_is_the_whole_stream(aha: AhaSandbox) -> None:
    # the default factory never stores a delta: a second run's value is every record again
    instance = dg.DagsterInstance.ephemeral()
    assets = build_aha_assets(streams=["features"])
    run(assets, aha, instance=instance)
    aha.state.update_record("feature", "PRJ1-2", name="Renamed in Aha!")
    second = run(assets, aha, instance=instance)
    assert len(second.rows("aha/features")) == aha.state.count("features")
    assert second.metadata("aha/features")["aha/value"].startswith("full")
    assert not [r for r in aha.requests if "updated_since" in r.query]


def test_custom_table_is_incremental(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    asset = aha_custom_table_asset(
        "PRJ1", "customers", name="customers", lookback=timedelta(0), incremental=True
    )
    first = run([asset], aha, instance=instance)
    record = first.rows("aha/customers")[0]
    aha.state.update_record("custom_object_record", record["id"], custom_fields={"name": "Acme"})
    second = run([asset], aha, instance=instance)
    assert [r["id"] for r in second.rows("aha/customers")] == [record["id"]]
    assert second.metadata("aha/customers")["aha/sync_mode"] == "incremental"


def test_static_product_partitions(aha: AhaSandbox) -> None:
    assets = build_aha_assets(product_partitions=["PRJ1", "PRJ2"], incremental=True)
    by_product, account = assets
    assert by_product.partitions_def == dg.StaticPartitionsDefinition(["PRJ1", "PRJ2"])
    assert account.partitions_def is None
    assert {k.path[-1] for k in account.keys} == {"products", "users"}
    assert {k.path[-1] for k in by_product.keys} == {
        "releases", "features", "epics", "ideas", "goals", "initiatives"
    }  # fmt: skip
    assert (
        by_product.specs_by_key[dg.AssetKey(["aha", "features"])].metadata["aha/list_path"]
        == "products/{product}/features"
    )

    r = run([by_product], aha, partition_key="PRJ2")
    prj2 = aha.state.get("products", "PRJ2")
    assert prj2 is not None
    assert sorted(get_paths(aha)) == sorted(
        f"products/PRJ2/{s}"
        for s in ("releases", "features", "epics", "ideas", "goals", "initiatives")
    )
    for stream in ("releases", "features", "epics", "ideas", "goals", "initiatives"):
        rows = r.rows(f"aha/{stream}", "PRJ2")
        expected = [x for x in aha.state.records(stream) if x["product_id"] == prj2["id"]]
        assert sorted(x["id"] for x in rows) == sorted(x["id"] for x in expected), stream
        assert rows and {x["product_id"] for x in rows} == {prj2["id"]}
        assert r.metadata(f"aha/{stream}")["dagster/partition_row_count"] == len(expected)

    aha.clear_requests()
    r2 = run([account], aha)
    assert sorted(get_paths(aha)) == ["products", "users"]
    assert len(r2.rows("aha/products")) == 2


def test_dynamic_partitions_sensor_and_partition_reads(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    by_product, _account = build_aha_assets(
        product_partitions="dynamic", lookback=timedelta(0), incremental=True
    )
    assert isinstance(by_product.partitions_def, dg.DynamicPartitionsDefinition)
    assert by_product.partitions_def.name == AHA_PRODUCTS_PARTITIONS_NAME

    sensor = build_aha_product_partitions_sensor(minimum_interval_seconds=60)
    with dg.build_sensor_context(instance=instance, resources={"aha": aha.resource()}) as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    [request] = result.dynamic_partitions_requests or []
    assert isinstance(request, dg.AddDynamicPartitionsRequest)
    assert request.partitions_def_name == AHA_PRODUCTS_PARTITIONS_NAME
    assert list(request.partition_keys) == ["PRJ1", "PRJ2"]
    assert [(r.path, r.query["fields"]) for r in aha.requests] == [
        ("products", "id,reference_prefix")
    ]

    instance.add_dynamic_partitions(AHA_PRODUCTS_PARTITIONS_NAME, ["PRJ1"])
    with dg.build_sensor_context(instance=instance, resources={"aha": aha.resource()}) as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    assert [list(r.partition_keys) for r in result.dynamic_partitions_requests or []] == [["PRJ2"]]
    instance.add_dynamic_partitions(AHA_PRODUCTS_PARTITIONS_NAME, ["PRJ2"])
    with dg.build_sensor_context(instance=instance, resources={"aha": aha.resource()}) as ctx:
        assert isinstance(sensor(ctx), dg.SkipReason)

    aha.clear_requests()
    first = run(
        [by_product], aha, instance=instance, partition_key="PRJ1", selection=["aha/features"]
    )
    assert get_paths(aha) == ["products/PRJ1/features"]
    prj1 = aha.state.get("products", "PRJ1")
    assert prj1 is not None
    assert {f["product_id"] for f in first.rows("aha/features", "PRJ1")} == {prj1["id"]}
    cursor = first.metadata("aha/features")["aha/cursor"]

    # the cursor is per partition: PRJ1 is incremental now, PRJ2's first read is full
    aha.clear_requests()
    run([by_product], aha, instance=instance, partition_key="PRJ1", selection=["aha/features"])
    run([by_product], aha, instance=instance, partition_key="PRJ2", selection=["aha/features"])
    assert [(r.path, r.query.get("updated_since")) for r in aha.requests] == [
        ("products/PRJ1/features", cursor),
        ("products/PRJ2/features", None),
    ]


@pytest.mark.parametrize("view", ["list", "pivot"])
def test_pivot_report_views(aha: AhaSandbox, view: str) -> None:
    report_id = next(iter(aha.state.reports))
    asset = aha_pivot_report_asset(report_id, name="roadmap", view=view)  # type: ignore[arg-type]
    r = run([asset], aha)
    rows = r.rows("aha/roadmap")
    titles = {
        "Product name",
        "Release name",
        "Feature status",
        "Feature reference #",
        "Feature name",
    }
    assert rows and all(set(row) == titles for row in rows)
    assert sorted(row["Feature reference #"] for row in rows) == sorted(
        f["reference_num"] for f in aha.state.records("features")
    )
    md = r.metadata("aha/roadmap")
    assert {c.name for c in md["dagster/column_schema"].columns} == titles
    assert md["dagster/row_count"] == aha.state.count("features")
    assert md["aha/report_url"] == f"{aha.url}/bookmarks/custom_pivots/{report_id}"
    assert {q.path for q in aha.requests} == {f"bookmarks/custom_pivots/{report_id}"}
    if view == "pivot":
        assert [q.query.get("view") for q in aha.requests] == ["pivot"]
    else:
        columns = {c.name: c for c in md["dagster/column_schema"].columns}
        assert columns["Feature reference #"].description == "features.reference_num"
        assert md["aha/pages"] == 1


def test_pivot_list_view_reads_every_page(aha: AhaSandbox) -> None:
    report_id = next(iter(aha.state.reports))
    r = run([aha_pivot_report_asset(report_id, name="rep", value="html")], aha, per_page=7)
    assert len(r.rows("aha/rep")) == aha.state.count("features") == 20
    assert r.metadata("aha/rep")["aha/pages"] == 3
    assert any("<" in str(v) for row in r.rows("aha/rep") for v in row.values())


def test_page_counts_are_kept_with_the_cursor_and_the_next_run_speculates(
    aha: AhaSandbox,
) -> None:
    """A full read keeps each list path's page count in the materialization (``aha/page_counts``);
    the next full read of the partition, in a new run process (nothing kept in the client, no
    budget store), starts pages 2..k together with page 1 and lands the same records."""
    from dagster_aha.client import reset_shared_limiters
    from dagster_aha.client.prefetch import reset_page_hints

    (by_product, _) = build_aha_assets(product_partitions=["PRJ1", "PRJ2"], incremental=False)
    instance = dg.DagsterInstance.ephemeral()
    first = run([by_product], aha, instance=instance, partition_key="PRJ1", per_page=3)
    prj1 = aha.state.get("products", "PRJ1")
    assert prj1 is not None
    truth = sorted(x["id"] for x in aha.state.records("features") if x["product_id"] == prj1["id"])
    pages = -(-len(truth) // 3)
    assert pages >= 3
    assert first.metadata("aha/features")["aha/page_counts"] == {"products/PRJ1/features": pages}
    assert "aha/page_counts" not in first.metadata("aha/releases")  # one page: nothing kept

    reset_shared_limiters()  # as in a new run process
    reset_page_hints()
    aha.latency = 0.3
    aha.clear_requests()
    second = run(
        [by_product],
        aha,
        instance=instance,
        partition_key="PRJ1",
        per_page=3,
        selection=["aha/features"],
    )
    asked = [r for r in aha.requests if r.path == "products/PRJ1/features"]
    first_page = min(r.time for r in asked if r.query.get("page") == "1")
    second_page = min(r.time for r in asked if r.query.get("page") == "2")
    assert second_page - first_page < 0.25  # page 2 did not wait for page 1's answer (0.3 s)
    assert len(asked) == pages  # the count was right: no page beyond the end
    assert sorted(x["id"] for x in second.rows("aha/features", "PRJ1")) == truth
    assert second.metadata("aha/features")["aha/page_counts"] == {"products/PRJ1/features": pages}
    # another partition has no count of its own yet: its page 2 waits for page 1
    aha.clear_requests()
    run([by_product], aha, instance=instance, partition_key="PRJ2", per_page=3)
    other = [r for r in aha.requests if r.path == "products/PRJ2/features"]
    p1 = min(r.time for r in other if r.query.get("page") == "1")
    p2 = min(r.time for r in other if r.query.get("page") == "2")
    assert p2 - p1 >= 0.29
