"""Op, job, destination asset, dead letter and sensor, run in process against the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dagster_aha.destinations import (
    AhaDestination,
    WriteReport,
    aha_destination_asset,
    build_aha_write_job,
    build_aha_write_op,
    build_aha_write_sensor,
)
from dagster_aha.resource import AhaResource
from dagster_aha.testing import AhaSandbox

RELEASE = "PRJ1-R-1"


def feature_dest(**kw: Any) -> AhaDestination:
    return AhaDestination(
        template="create_feature",
        path_params={"release_id": RELEASE},
        field_mapping={"title": "name"},
        **kw,
    )


def feature_names(aha: AhaSandbox) -> list[str]:
    return [f["name"] for f in aha.state.records("features")]


def test_write_op_in_a_job(aha_sandbox: AhaSandbox) -> None:
    write = build_aha_write_op(feature_dest(), name="push_features")

    @dg.op
    def upstream() -> list:
        return [{"title": "From op 1"}, {"title": "From op 2"}]

    @dg.job
    def pipeline() -> None:
        write(upstream())

    result = pipeline.execute_in_process(resources={"aha": aha_sandbox.resource()})
    assert result.success
    report = result.output_for_node("push_features")
    assert isinstance(report, WriteReport)
    assert report.counts["created"] == 2
    assert {"From op 1", "From op 2"} <= set(feature_names(aha_sandbox))
    (out,) = [
        e for e in result.events_for_node("push_features") if e.event_type_value == "STEP_OUTPUT"
    ]
    md = out.step_output_data.metadata
    assert md["count_created"].value == 2 and md["requests"].value == 2
    assert md["counts"].value["created"] == 2
    assert write.pool == "aha"


def test_write_op_fails_after_writing_everything(aha_sandbox: AhaSandbox) -> None:
    write = build_aha_write_op(feature_dest(), name="push_features")

    @dg.op
    def upstream() -> list:
        return [{"title": "good 1"}, {"no_title": True}, {"title": "good 2"}]

    @dg.job
    def pipeline() -> None:
        write(upstream())

    result = pipeline.execute_in_process(
        resources={"aha": aha_sandbox.resource()}, raise_on_error=False
    )
    assert not result.success
    # Both good records were written before the step failed.
    assert {"good 1", "good 2"} <= set(feature_names(aha_sandbox))
    failure = result.failure_data_for_node("push_features")
    assert failure is not None and failure.user_failure_data is not None
    assert "1 of 3 record(s) were not written" in (failure.user_failure_data.description or "")
    md = failure.user_failure_data.metadata
    assert md["count_failed"].value == 1 and md["count_created"].value == 2
    assert md["failed"].value[0]["record"] == {"no_title": True}


def test_job_with_inline_records_and_dry_run_from_run_config(aha_sandbox: AhaSandbox) -> None:
    job = build_aha_write_job(feature_dest(), name="push_job")
    records = [{"title": "Inline 1"}, {"title": "Inline 2"}]
    run_config = {
        "ops": {
            "push_job_records": {"config": {"records": records}},
            "push_job_write": {"config": {"dry_run": True}},
        }
    }
    result = job.execute_in_process(
        run_config=run_config, resources={"aha": aha_sandbox.resource()}
    )
    assert result.success
    report = result.output_for_node("push_job_write")
    assert report.counts["dry_run"] == 2 and report.requests == 0
    assert aha_sandbox.requests == []

    run_config["ops"]["push_job_write"]["config"]["dry_run"] = False
    result = job.execute_in_process(
        run_config=run_config, resources={"aha": aha_sandbox.resource()}
    )
    assert result.output_for_node("push_job_write").counts["created"] == 2
    assert {"Inline 1", "Inline 2"} <= set(feature_names(aha_sandbox))


def make_upstream(rows: list[dict[str, Any]]) -> dg.AssetsDefinition:
    @dg.asset(name="tickets")
    def tickets() -> list:
        return rows

    return tickets


def test_destination_asset_and_dead_letter(aha_sandbox: AhaSandbox, tmp_path: Path) -> None:
    rows = [{"title": "Asset 1"}, {"title": None}, "junk", {"title": "Asset 2"}]
    dest = aha_destination_asset(
        feature_dest(),
        upstream=dg.AssetKey("tickets"),
        name="tickets_to_aha",
        fail_on_error=False,
    )
    assert dest.keys == {
        dg.AssetKey(["aha", "tickets_to_aha"]),
        dg.AssetKey(["aha", "tickets_to_aha_dead_letter"]),
    }
    assert dest.op.pool == "aha"
    spec = next(s for s in dest.specs if s.key == dg.AssetKey(["aha", "tickets_to_aha"]))
    assert "dagster/kind/aha" in spec.tags
    assert dg.AssetKey("tickets") in {d.asset_key for d in spec.deps}

    io = dg.FilesystemIOManager(base_dir=str(tmp_path))
    result = dg.materialize(
        [make_upstream(rows), dest],
        resources={"aha": aha_sandbox.resource(), "io_manager": io},
    )
    assert result.success
    outcomes = result.output_for_node("aha__tickets_to_aha", "outcomes")
    assert [r["status"] for r in outcomes] == ["created", "failed", "failed", "created"]
    dead = result.output_for_node("aha__tickets_to_aha", "dead_letter")
    assert [d["index"] for d in dead] == [1, 2]
    assert dead[0]["record"] == {"title": None} and "'name' is required" in dead[0]["error"]
    assert dead[1]["record"] == "junk"

    mats = {
        m.asset_key: m.metadata
        for m in result.asset_materializations_for_node("aha__tickets_to_aha")
    }
    md = mats[dg.AssetKey(["aha", "tickets_to_aha"])]
    assert md["count_created"].value == 2 and md["count_failed"].value == 2
    assert md["dagster/row_count"].value == 4
    assert "status" in [c.name for c in md["dagster/column_schema"].value.columns]
    assert len(md["ids_created"].value) == 2
    assert "| 1 | failed |" in md["preview"].value
    assert mats[dg.AssetKey(["aha", "tickets_to_aha_dead_letter"])]["dagster/row_count"].value == 2

    # Replay the dead letter (after fixing the data) through the write job.
    job = build_aha_write_job(feature_dest(), name="replay")
    replay = job.execute_in_process(
        run_config={
            "ops": {
                "replay_records": {"config": {"asset_key": ["aha", "tickets_to_aha_dead_letter"]}}
            }
        },
        resources={"aha": aha_sandbox.resource(), "io_manager": io},
        raise_on_error=False,
    )
    report = replay.output_for_node("replay_write")
    assert report.records == [{"title": None}, "junk"]  # the original records were reloaded
    assert report.counts["failed"] == 2 and not replay.success


def test_destination_asset_fails_after_materializing_both(
    aha_sandbox: AhaSandbox, tmp_path: Path
) -> None:
    dest = aha_destination_asset(feature_dest(), upstream="tickets", name="strict")
    result = dg.materialize(
        [make_upstream([{"title": "ok"}, {"bad": 1}]), dest],
        resources={
            "aha": aha_sandbox.resource(),
            "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path)),
        },
        raise_on_error=False,
    )
    assert not result.success
    keys = {m.asset_key for m in result.asset_materializations_for_node("aha__strict")}
    assert keys == {dg.AssetKey(["aha", "strict"]), dg.AssetKey(["aha", "strict_dead_letter"])}
    assert "ok" in feature_names(aha_sandbox)


def test_eager_automation_condition_is_set() -> None:
    dest = aha_destination_asset(
        feature_dest(),
        upstream="tickets",
        name="eager",
        automation_condition=dg.AutomationCondition.eager(),
    )
    for spec in dest.specs:
        assert spec.automation_condition is not None
    resource = AhaResource(base_url="http://127.0.0.1:9", api_key="unused")
    defs = dg.Definitions(assets=[make_upstream([]), dest], resources={"aha": resource})
    assert defs.resolve_asset_graph().get(dg.AssetKey(["aha", "eager"])).automation_condition


def test_sensor_requests_one_run_per_materialization(
    aha_sandbox: AhaSandbox, tmp_path: Path
) -> None:
    io = dg.FilesystemIOManager(base_dir=str(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    job = build_aha_write_job(feature_dest(), name="tickets_job")
    sensor = build_aha_write_sensor(
        feature_dest(), upstream=dg.AssetKey("tickets"), job=job, minimum_interval_seconds=30
    )
    assert sensor.minimum_interval_seconds == 30
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED

    # Nothing materialized yet.
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert result.run_requests == [] and result.skip_message

    for batch in (1, 2):
        dg.materialize(
            [make_upstream([{"title": f"Sensor {batch}"}])],
            instance=instance,
            resources={"io_manager": io},
        )
    first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert len(first.run_requests) == 1  # first tick: the latest materialization only
    latest_id = instance.fetch_materializations(dg.AssetKey("tickets"), limit=1).records[0]
    assert first.run_requests[0].run_key == str(latest_id.storage_id)
    assert first.cursor == str(latest_id.storage_id)

    # Same cursor again: nothing new, no second write.
    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert again.run_requests == []

    # Two more materializations -> two run requests, in order, with the storage ids as keys.
    for batch in (3, 4):
        dg.materialize(
            [make_upstream([{"title": f"Sensor {batch}"}])],
            instance=instance,
            resources={"io_manager": io},
        )
    nxt = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    keys = [int(r.run_key) for r in nxt.run_requests]  # type: ignore[arg-type]
    assert len(keys) == 2 and keys == sorted(keys) and keys[0] > int(first.cursor)  # type: ignore[arg-type]
    assert nxt.cursor == str(keys[-1])

    # The superseded request writes nothing; the latest writes the current value.
    resources = {"aha": aha_sandbox.resource(), "io_manager": io}
    old, new = nxt.run_requests
    r_old = job.execute_in_process(
        run_config=old.run_config, resources=resources, instance=instance
    )
    assert r_old.output_for_node("tickets_job_write").outcomes == []
    r_new = job.execute_in_process(
        run_config=new.run_config, resources=resources, instance=instance
    )
    assert r_new.output_for_node("tickets_job_write").counts["created"] == 1
    names = feature_names(aha_sandbox)
    assert names.count("Sensor 4") == 1 and "Sensor 3" not in names


def test_job_without_records_config_fails_clearly(aha_sandbox: AhaSandbox) -> None:
    job = build_aha_write_job(feature_dest(), name="empty_job")
    with pytest.raises(dg.Failure, match="give records or asset_key"):
        job.execute_in_process(resources={"aha": aha_sandbox.resource()})


def test_write_job_and_sensor_load_together_in_definitions(aha_sandbox: AhaSandbox) -> None:
    """The job, its ops and its sensor have distinct names, so one Definitions holds them."""
    job = build_aha_write_job(feature_dest(), name="intake_job")
    sensor = build_aha_write_sensor(feature_dest(), upstream=dg.AssetKey("tickets"), job=job)
    defs = dg.Definitions(jobs=[job], sensors=[sensor], resources={"aha": aha_sandbox.resource()})
    dg.Definitions.validate_loadable(defs)
    assert {n.name for n in defs.get_job_def("intake_job").nodes} == {
        "intake_job_records",
        "intake_job_write",
    }
    assert aha_sandbox.requests == []


def test_sensor_tick_is_capped_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    """A tick stops at max_runs_per_tick (or its time budget) and the next one goes on from
    the cursor: nothing skipped, nothing requested twice."""
    io = dg.FilesystemIOManager(base_dir=str(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    job = build_aha_write_job(feature_dest(), name="capped_job")
    kwargs: dict[str, Any] = {"upstream": dg.AssetKey("tickets"), "job": job}
    capped = build_aha_write_sensor(feature_dest(), max_runs_per_tick=2, **kwargs)
    no_time = build_aha_write_sensor(feature_dest(), time_budget_seconds=-1.0, **kwargs)
    dg.materialize(
        [make_upstream([{"title": "t0"}])], instance=instance, resources={"io_manager": io}
    )
    start = capped.evaluate_tick(dg.build_sensor_context(instance=instance)).cursor
    for i in range(3):
        dg.materialize(
            [make_upstream([{"title": f"t{i + 1}"}])],
            instance=instance,
            resources={"io_manager": io},
        )

    out_of_time = no_time.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=start))
    assert out_of_time.run_requests == [] and out_of_time.cursor == start  # position kept

    first = capped.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=start))
    second = capped.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    keys = [r.run_key for r in first.run_requests] + [r.run_key for r in second.run_requests]
    assert len(first.run_requests) == 2 and len(second.run_requests) == 1
    all_ids = [
        str(r.storage_id)
        for r in instance.fetch_materializations(dg.AssetKey("tickets"), limit=10).records
    ]
    assert sorted(keys, key=int) == sorted(all_ids, key=int)[1:]  # the 3 new ones, once each
