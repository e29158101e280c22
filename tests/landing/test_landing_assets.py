"""build_aha_dlt_assets, the component's landing:, the recycle-bin parser."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from dagster_aha.dlt import AhaLanding, build_aha_dlt_assets
from dagster_aha.dlt.deletions import parse_deletions, stream_for_type
from dagster_aha.testing import AhaSandbox

from .conftest import change_3_delete_2_add_1, truth


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        out[mat.asset_key.to_user_string()] = {
            k: getattr(v, "value", v) for k, v in mat.metadata.items()
        }
    return out


def test_assets_keys_kinds_and_metadata_per_table(sandbox: AhaSandbox, tmp_path: Path) -> None:
    database = tmp_path / "landed.duckdb"
    landing = AhaLanding(credentials=str(database), pipelines_dir=str(tmp_path / "dlt"))
    report_id = next(iter(sandbox.state.reports))
    [assets] = build_aha_dlt_assets(
        streams=["products", "features"],
        pivot_reports=[{"report_id": report_id, "name": "report"}],
        landing=landing,
        reconcile_every=None,
    )
    assert {k.to_user_string() for k in assets.keys} == {
        "aha/products",
        "aha/features",
        "aha/report",
    }
    assert assets.specs_by_key[dg.AssetKey(["aha", "features"])].kinds == {"aha", "dlt", "duckdb"}
    instance = dg.DagsterInstance.ephemeral()
    first = _metadata(
        dg.materialize([assets], resources={"aha": sandbox.resource()}, instance=instance)
    )
    count = sandbox.state.count("features")
    assert first["aha/features"]["aha/rows_loaded"] == count
    assert first["aha/features"]["dagster/row_count"] == count
    assert first["aha/features"]["aha/sync_mode"] == "full"
    change_3_delete_2_add_1(sandbox)
    second = _metadata(
        dg.materialize([assets], resources={"aha": sandbox.resource()}, instance=instance)
    )
    md = second["aha/features"]
    assert md["aha/sync_mode"] == "incremental"
    assert md["aha/deletes_applied"] == 2
    assert md["dagster/row_count"] == count - 2 + 1
    assert md["aha/cursor"] > first["aha/features"]["aha/cursor"]
    assert (
        "custom_fields__external_id" in str(md["dagster/column_schema"])
        or md["dagster/column_schema"]
    )
    with duckdb.connect(str(database), read_only=True) as conn:
        landed = dict(conn.execute("SELECT id, name FROM aha.features").fetchall())
        assert conn.execute("SELECT count(*) FROM aha.report").fetchone()[0] > 0
    assert landed == truth(sandbox)


def test_component_landing_lands_with_no_python(sandbox: AhaSandbox, tmp_path: Path) -> None:
    from dagster_aha import AhaComponent

    database = tmp_path / "c.duckdb"
    component = AhaComponent.resolve_from_yaml(
        f"""
streams: [features]
landing:
  destination: duckdb
  dataset: aha
  credentials: "{database}"
  pipelines_dir: "{tmp_path / "dlt"}"
  duckdb_memory_limit: 256MB
  buffer_max_items: 100
"""
    )
    defs = component.build_defs(dg.ComponentTree.for_test().load_context)
    result = dg.materialize(list(defs.assets or []), resources={"aha": sandbox.resource()})
    assert result.success
    with duckdb.connect(str(database), read_only=True) as conn:
        assert conn.execute("SELECT count(DISTINCT id) FROM aha.features").fetchone() == (
            sandbox.state.count("features"),
        )


def test_recycle_bin_items_are_read_tolerantly() -> None:
    bin_ = parse_deletions(
        [
            # Aha!'s documented shape: no record id, a reference and a type
            {
                "id": "9",
                "deleted_at": "2019-01-01T00:00:00.000Z",
                "status": "deleted",
                "record": {"name": "Feature 1", "type": "Feature", "reference_num": "PRJ1-1"},
            },
            {"id": "10", "record": {"id": 6776, "type": "Epic"}},
            {"id": "11", "record_type": "Release", "record_id": "77"},
            {"id": "12", "deletable_type": "Idea", "deletable_id": 5},
            {"id": "13", "status": "restore_in_progress", "record": {"id": "1", "type": "Goal"}},
            {"id": "14", "record": {"name": "no id, no reference"}},
            "not an object",
            {"id": "15", "record": {"id": "42"}},  # no type: any table
        ]
    )
    assert bin_.unreadable == 2
    got = [(d.record_id, d.reference, d.stream) for d in bin_.items]
    assert got == [
        (None, "PRJ1-1", "features"),
        ("6776", None, "epics"),
        ("77", None, "releases"),
        ("5", None, "ideas"),
        ("42", None, None),
    ]
    assert [d.record_id for d in bin_.for_stream("features")] == [None, "42"]
    assert stream_for_type("Aha::CustomObjectRecord") == "custom_object_records"
    assert stream_for_type("Project") == "products" and stream_for_type(3) is None
