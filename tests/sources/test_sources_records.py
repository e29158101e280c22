"""Record assets against the sandbox: every stream, metadata, subsetting, checks, no N+1."""

from __future__ import annotations

import re
from datetime import datetime

import dagster as dg
import pytest
from sources_helpers import get_paths, run

from dagster_aha import (
    AhaAssetProps,
    DagsterAhaTranslator,
    aha_custom_table_asset,
    aha_pivot_report_asset,
    build_aha_assets,
    build_aha_product_partitions_sensor,
)
from dagster_aha.sources import DEFAULT_STREAMS, IDS_UNIQUE, REQUIRED_KEYS_PRESENT, STREAMS
from dagster_aha.testing import AhaSandbox

ALL_STREAMS = (*DEFAULT_STREAMS, "teams")
DETAIL_RE = re.compile(
    r"^(products|releases|features|epics|ideas|goals|initiatives|users|teams|"
    r"custom_object_records)/[^/]+$"
)


def _max_updated(records: list[dict]) -> str:
    return max(r["updated_at"] for r in records)


def test_loading_definitions_makes_no_request(aha: AhaSandbox) -> None:
    defs = dg.Definitions(
        assets=[
            *build_aha_assets(),
            *build_aha_assets(key_prefix=["by_product"], product_partitions=["PRJ1", "PRJ2"]),
            *build_aha_assets(key_prefix=["dyn"], product_partitions="dynamic"),
            aha_custom_table_asset("PRJ1", "customers"),
            aha_pivot_report_asset(next(iter(aha.state.reports)), name="roadmap"),
            aha_pivot_report_asset(next(iter(aha.state.reports)), name="grid", view="pivot"),
        ],
        sensors=[build_aha_product_partitions_sensor()],
        resources={"aha": aha.resource()},
    )
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {f"aha/{s}" for s in DEFAULT_STREAMS} <= keys
    assert {f"by_product/{s}" for s in DEFAULT_STREAMS} <= keys
    assert {"aha/custom_table_customers", "aha/roadmap", "aha/grid"} <= keys
    assert len(keys) == 3 * len(DEFAULT_STREAMS) + 3
    defs.resolve_job_def("__ASSET_JOB")
    assert aha.requests == []


def test_full_materialization_of_every_stream(aha: AhaSandbox) -> None:
    assets = build_aha_assets(streams=ALL_STREAMS)
    assert len(assets) == 1
    r = run(assets, aha)
    assert r.materialized == {f"aha/{s}" for s in ALL_STREAMS}

    for name in ALL_STREAMS:
        rows = r.rows(f"aha/{name}")
        expected = aha.state.records(name)
        assert sorted(row["id"] for row in rows) == sorted(str(x["id"]) for x in expected), name
        assert all(isinstance(row["id"], str) for row in rows)
        md = r.metadata(f"aha/{name}")
        assert md["dagster/row_count"] == len(expected)
        assert md["aha/sync_mode"] == "full"
        assert md["aha/account_url"] == aha.url
        assert md["aha/pages"] >= 1
        assert md["aha/duration_s"] >= 0
        assert md["aha/records_per_s"] >= 0
        assert "| id |" in md["aha/preview"]
        columns = {c.name: c for c in md["dagster/column_schema"].columns}
        assert "id" in columns and columns["id"].constraints.unique
        if any("updated_at" in x for x in expected):
            assert md["aha/cursor"] == _max_updated(expected)
        for field in STREAMS[name].required_keys:
            assert all(row.get(field) for row in rows), (name, field)

    # full records straight from the list: updated_at, workflow_status, custom fields, parents
    features = r.rows("aha/features")
    assert all(
        {"updated_at", "workflow_status", "custom_fields", "release"} <= set(f) for f in features
    )
    assert all(isinstance(cf["id"], str) for f in features for cf in f["custom_fields"])
    assert r.metadata("aha/features")["dagster/column_schema"].columns[0].name == "id"

    # one list request per stream (releases: one per product), all with fields=, no detail GETs
    paths = get_paths(aha)
    products = [p["id"] for p in aha.state.records("products")]
    assert sorted(paths) == sorted(
        [
            "products",
            *(f"products/{pid}/releases" for pid in products),
            "features",
            "epics",
            "ideas",
            "goals",
            "initiatives",
            "users",
            "teams",
        ]
    )
    assert not [p for p in paths if DETAIL_RE.match(p)]
    assert all("fields" in q.query for q in aha.requests)
    # every documented record but a team's has updated_at (teams: full refresh, never asked)
    assert all(
        ("updated_at" in q.query["fields"].split(",")) == (q.path != "teams") for q in aha.requests
    )
    assert all(q.query.get("per_page") == "200" for q in aha.requests)
    assert r.metadata("aha/releases")["aha/requests"] == len(products)
    assert r.metadata("aha/features")["aha/requests"] == 1

    # every shipped check ran and passed
    checks = r.checks()
    assert len(checks) == 2 * len(ALL_STREAMS)
    assert all(checks.values())


def test_progress_is_logged_every_few_pages(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    r = run(build_aha_assets(streams=["features"]), aha, instance=instance, per_page=1)
    assert r.metadata("aha/features")["aha/pages"] == 20
    assert r.metadata("aha/features")["aha/requests"] == 20
    messages = [
        e.user_message
        for e in instance.all_logs(r.result.run_id)
        if e.dagster_event is None and " page " in e.user_message
    ]
    pages = [int(m.split(" page ")[1].split("/")[0]) for m in messages]
    assert pages == [1, 5, 10, 15, 20]
    assert "aha/features: features page 20/20, 20 records so far" in messages[-1]
    assert messages[-1].endswith("records/s")


def test_subset_reads_only_selected_streams(aha: AhaSandbox) -> None:
    r = run(build_aha_assets(), aha, selection=["aha/features", "aha/users"])
    assert r.materialized == {"aha/features", "aha/users"}
    assert sorted(get_paths(aha)) == ["features", "users"]
    assert set(r.checks()) == {
        ("aha/features", IDS_UNIQUE),
        ("aha/features", REQUIRED_KEYS_PRESENT),
        ("aha/users", IDS_UNIQUE),
        ("aha/users", REQUIRED_KEYS_PRESENT),
    }


def test_fields_option_per_stream_and_required_keys_kept(aha: AhaSandbox) -> None:
    assets = build_aha_assets(streams=["features", "goals"], fields={"features": ["name", "tags"]})
    r = run(assets, aha)
    by_path = {q.path: q.query["fields"] for q in aha.requests}
    assert by_path["features"].split(",") == ["id", "reference_num", "updated_at", "name", "tags"]
    assert "success_metric" in by_path["goals"]
    assert set(r.rows("aha/features")[0]) == {"id", "reference_num", "updated_at", "name", "tags"}


def test_custom_table_asset(aha: AhaSandbox) -> None:
    r = run([aha_custom_table_asset("PRJ1", "customers")], aha)
    rows = r.rows("aha/custom_table_customers")
    product = aha.state.get("products", "PRJ1")
    assert product is not None
    expected = [
        x
        for x in aha.state.records("custom_object_records")
        if x["product_id"] == product["id"] and x["key"] == "customers"
    ]
    assert len(rows) == len(expected) == 3
    assert {row["id"] for row in rows} == {x["id"] for x in expected}
    assert get_paths(aha) == ["products/PRJ1/custom_objects/customers/records"]
    assert r.metadata("aha/custom_table_customers")["aha/sync_mode"] == "full"
    assert all(r.checks().values())


def test_checks_fail_on_records_missing_reference_num() -> None:
    with AhaSandbox(
        products=1, releases_per_product=1, features_per_release=3, enforce_rate_limits=False
    ) as seed:
        data = seed.state.to_data()
    broken = data["records"]["features"][0]
    broken["reference_num"] = None
    with AhaSandbox(data=data, enforce_rate_limits=False) as aha:
        r = run(build_aha_assets(streams=["features"]), aha)
    checks = r.checks()
    assert checks[("aha/features", IDS_UNIQUE)] is True
    assert checks[("aha/features", REQUIRED_KEYS_PRESENT)] is False
    md = r.check_metadata("aha/features", REQUIRED_KEYS_PRESENT)
    assert md["missing_reference_num"] == 1
    assert md["missing_id"] == 0
    assert md["sample"] == [
        {"row": md["sample"][0]["row"], "id": broken["id"], "missing": ["reference_num"]}
    ]


def test_translator_subclass_renames_keys_and_groups(aha: AhaSandbox) -> None:
    class Renaming(DagsterAhaTranslator):
        def get_asset_spec(self, props: AhaAssetProps) -> dg.AssetSpec:
            spec = super().get_asset_spec(props)
            return spec.replace_attributes(
                key=dg.AssetKey(["raw", f"aha_{props.name}"]),
                group_name="raw_aha",
                owners=["team:data"],
                tags={"source": "aha"},
            )

    [assets] = build_aha_assets(streams=["features", "ideas"], translator=Renaming())
    specs = {s.key.to_user_string(): s for s in assets.specs}
    assert set(specs) == {"raw/aha_features", "raw/aha_ideas"}
    assert {s.group_name for s in specs.values()} == {"raw_aha"}
    assert specs["raw/aha_features"].owners == ["team:data"]
    assert specs["raw/aha_features"].tags["source"] == "aha"
    assert specs["raw/aha_features"].kinds == {"aha"}
    assert specs["raw/aha_features"].metadata["aha/stream"] == "features"
    r = run([assets], aha, selection=["raw/aha_ideas"])
    assert r.materialized == {"raw/aha_ideas"}
    assert len(r.rows("raw/aha_ideas")) == aha.state.count("ideas")
    assert get_paths(aha) == ["ideas"]
    assert set(r.checks()) == {
        ("raw/aha_ideas", IDS_UNIQUE),
        ("raw/aha_ideas", REQUIRED_KEYS_PRESENT),
    }


def test_custom_resource_key(aha: AhaSandbox) -> None:
    assets = build_aha_assets(streams=["users"], resource_key="aha_prod")
    r = run(assets, aha, resource_key="aha_prod")
    assert len(r.rows("aha/users")) == aha.state.count("users")


def test_spec_metadata_describes_the_stream() -> None:
    [assets] = build_aha_assets(streams=["releases", "goals"], incremental=True)
    specs = {s.key.to_user_string(): s for s in assets.specs}
    rel = specs["aha/releases"].metadata
    assert rel["aha/list_path"] == "products/{product}/releases"
    assert rel["aha/incremental"] is True
    assert specs["aha/goals"].metadata["aha/incremental"] is False
    assert assets.op.name == "aha_records"
    assert assets.can_subset


def test_invalid_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="Unknown Aha! stream 'feature'"):
        build_aha_assets(streams=["feature"])
    with pytest.raises(ValueError, match="Duplicate"):
        build_aha_assets(streams=["features", "features"])
    with pytest.raises(ValueError, match="product_partitions"):
        build_aha_assets(product_partitions="static")
    with pytest.raises(ValueError, match="view"):
        aha_pivot_report_asset(1, name="x", view="table")  # type: ignore[arg-type]


def test_timestamps_are_parsed_in_every_aha_form() -> None:
    from dagster_aha.sources.timestamps import format_ts as _format_ts
    from dagster_aha.sources.timestamps import parse_ts as _parse_ts

    parsed = _parse_ts("2019-01-01T00:00:00.5Z")
    assert parsed == datetime.fromisoformat("2019-01-01T00:00:00.500+00:00")
    assert _format_ts(_parse_ts("2019-01-01T00:00:00Z")) == "2019-01-01T00:00:00.000Z"  # type: ignore[arg-type]
    assert _parse_ts("not a date") is None
    assert _parse_ts(None) is None
