"""Sync features in Dagster against the sandbox: dry-run plans, max_failed, the dead-letter
check, planned vs done, column lineage, and the component's YAML."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dagster_aha import AhaComponent
from dagster_aha.destinations import (
    DEAD_LETTER_CHECK,
    AhaDestination,
    WriteReport,
    aha_destination_asset,
    build_aha_write_job,
    build_aha_write_op,
)
from dagster_aha.testing import AhaSandbox

RELEASE = "PRJ1-R-1"
OUT = dg.AssetKey(["aha", "push"])
DEAD = dg.AssetKey(["aha", "push_dead_letter"])


def dest(**kw: Any) -> AhaDestination:
    return AhaDestination(
        template="create_feature",
        path_params={"release_id": RELEASE},
        field_mapping={"title": "name"},
        custom_fields={"ext": "external_id"},
        match_on="custom_fields.external_id",
        exclude_attributes=["internal"],
        **kw,
    )


def upstream(records: list[dict[str, Any]]) -> dg.AssetsDefinition:
    @dg.asset(key="intake")
    def intake() -> list[dict[str, Any]]:
        return records

    return intake


def rows(n: int) -> list[dict[str, Any]]:
    return [{"title": f"T{i}", "ext": f"x{i}", "internal": "no"} for i in range(n)]


def materialize(
    aha: AhaSandbox, records: list[dict[str, Any]], tmp: Path, *, config: Any = None, **kw: Any
) -> dg.ExecuteInProcessResult:
    asset = aha_destination_asset(
        dest(**kw.pop("dest", {})),
        upstream="intake",
        name="push",
        ledger=str(tmp / "ledger.sqlite"),
        **kw,
    )
    run_config = {"ops": {"aha__push": {"config": config}}} if config else None
    return dg.materialize(
        [upstream(records), asset],
        resources={"aha": aha.resource()},
        run_config=run_config,
        raise_on_error=False,
    )


def materialization(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> Any:
    (event,) = [m for m in result.get_asset_materialization_events() if m.asset_key == key]
    return event.materialization.metadata


def check_result(result: dg.ExecuteInProcessResult) -> Any:
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_dry_run_asset_stores_the_plan_and_sends_nothing(
    aha_sandbox: AhaSandbox, tmp_path: Path
) -> None:
    materialize(aha_sandbox, rows(2), tmp_path)
    aha_sandbox.clear_requests()
    changed = [{**rows(1)[0], "title": "T0 renamed"}, rows(2)[1], {"title": "new", "ext": "n1"}]
    result = materialize(aha_sandbox, changed, tmp_path, config={"dry_run": True})
    assert result.success
    assert {r.method for r in aha_sandbox.requests} == {"GET"}
    plan_rows = result.output_for_node("aha__push", "outcomes")
    assert [r["action"] for r in plan_rows] == ["update", "unchanged", "create"]
    md = materialization(result, OUT)
    assert md["plan_totals"].value["update"] == 1 and md["plan_writes"].value == 2
    assert "T0 renamed" in md["plan"].value
    schema = md["dagster/column_schema"].value
    assert [c.name for c in schema.columns][:3] == ["index", "action", "reason"]


def test_max_failed_tolerates_then_fails_after_finishing(
    aha_sandbox: AhaSandbox, tmp_path: Path
) -> None:
    records = [*rows(7), {"ext": "a"}, {"ext": "b"}, {"ext": "c"}]  # 3 without a title
    ok = materialize(aha_sandbox, records, tmp_path, max_failed=3)
    assert ok.success
    assert check_result(ok).passed is False  # the dead letter holds the 3
    too_many = materialize(aha_sandbox, records, tmp_path / "b", max_failed=0.2)
    assert not too_many.success
    # both assets were stored before the step failed, and the failure carries the report
    assert materialization(too_many, DEAD)["records"].value == 3
    (failure,) = [e for e in too_many.all_events if e.event_type_value == "STEP_FAILURE"]
    text = failure.step_failure_data.user_failure_data.description
    assert "above max_failed=0.2" in text
    legacy = materialize(aha_sandbox, records, tmp_path / "c", fail_on_error=False)
    assert legacy.success


def test_dead_letter_check_severity_is_configurable(
    aha_sandbox: AhaSandbox, tmp_path: Path
) -> None:
    result = materialize(
        aha_sandbox,
        [{"ext": "a"}],
        tmp_path,
        fail_on_error=False,
        dead_letter_check_severity="WARN",
    )
    evaluation = check_result(result)
    assert evaluation.check_name == DEAD_LETTER_CHECK and not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    clean = materialize(aha_sandbox, rows(1), tmp_path)
    assert check_result(clean).passed


def test_outcome_metadata_planned_done_requests_and_lineage(
    aha_sandbox: AhaSandbox, tmp_path: Path
) -> None:
    result = materialize(aha_sandbox, rows(3), tmp_path)
    md = materialization(result, OUT)
    assert md["planned"].value["create"] == 3 and md["done"].value["created"] == 3
    assert md["requests_used"].value == 4  # one look-up listing + three creates
    lineage = md["dagster/column_lineage"].value
    deps = {k: [(d.asset_key, d.column_name) for d in v] for k, v in lineage.deps_by_column.items()}
    intake = dg.AssetKey("intake")
    assert deps == {"name": [(intake, "title")], "custom_fields.external_id": [(intake, "ext")]}
    assert "status" in [c.name for c in md["dagster/column_schema"].value.columns]


def test_job_dry_run_returns_the_plan(aha_sandbox: AhaSandbox, tmp_path: Path) -> None:
    job = build_aha_write_job(dest(), name="push_job", ledger=str(tmp_path / "l.sqlite"))
    result = job.execute_in_process(
        run_config={
            "ops": {
                "push_job_records": {"config": {"records": rows(2)}},
                "push_job_write": {"config": {"dry_run": True}},
            }
        },
        resources={"aha": aha_sandbox.resource()},
    )
    report = result.output_for_node("push_job_write")
    assert isinstance(report, WriteReport) and report.plan is not None
    assert report.plan.totals["create"] == 2
    assert [r.method for r in aha_sandbox.requests] == ["GET"]


def test_component_yaml_reaches_modes_thresholds_and_dry_run(
    aha_sandbox: AhaSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_AHA_WRITE_LEDGER_URL", str(tmp_path / "ledger.sqlite"))
    component = AhaComponent.resolve_from_yaml(
        textwrap.dedent(
            f"""
            base_url: "{aha_sandbox.url}"
            api_key: "{aha_sandbox.api_key}"
            streams: []
            destinations:
              - name: push
                upstream: intake
                template: create_feature
                path_params: {{release_id: {RELEASE}}}
                record_key: ext
                mode: mirror
                allow_delete: true
                max_deletes: 1
                max_failed: 0.5
                dead_letter_check_severity: WARN
              - name: preview
                upstream: intake
                template: create_feature
                path_params: {{release_id: {RELEASE}}}
                custom_fields: {{ext: external_id}}
                match_on: custom_fields.external_id
                mode: upsert
                dry_run: true
            """
        )
    )
    defs = component.build_defs(dg.ComponentTree.for_test().load_context)
    push, preview = defs.assets or []
    assert isinstance(push, dg.AssetsDefinition)
    records = [{"name": f"C{i}", "ext": f"c{i}"} for i in range(3)]

    def run(asset: Any, data: list[dict[str, Any]]) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [upstream(data), asset], resources=dict(defs.resources or {}), raise_on_error=False
        )

    assert run(push, records).success
    aha_sandbox.clear_requests()
    blocked = run(push, records[:1])  # 2 removals > max_deletes=1: nothing deleted, step fails
    assert not blocked.success
    assert [r.method for r in aha_sandbox.requests] == []
    aha_sandbox.clear_requests()
    planned = run(preview, records)
    assert planned.success and {r.method for r in aha_sandbox.requests} == {"GET"}
    # push did not set external_id: the look-up finds none of them, so the plan creates
    assert [r["action"] for r in planned.output_for_node("aha__preview", "outcomes")] == [
        "create"
    ] * 3


def test_builder_dry_run_and_destination_max_failed(
    aha_sandbox: AhaSandbox, tmp_path: Path
) -> None:
    write = build_aha_write_op(
        dest(max_failed=1), name="push_op", ledger=str(tmp_path / "l.sqlite"), dry_run=True
    )

    @dg.op
    def source() -> list:
        return [*rows(2), {"ext": "no-title"}]

    @dg.job
    def pipeline() -> None:
        write(source())

    result = pipeline.execute_in_process(resources={"aha": aha_sandbox.resource()})
    assert result.success  # 1 failed record, within the destination's max_failed=1
    report = result.output_for_node("push_op")
    assert report.dry_run and report.plan.totals["create"] == 2 and report.plan.totals["fail"] == 1
    assert [r.method for r in aha_sandbox.requests] == ["GET"]
