"""Dagster side of the write ledger: bounded logs and failures, marked dead letters, and the
write sensor on an upstream that holds deltas."""

from __future__ import annotations

import json
import logging
from typing import Any

import dagster as dg

from dagster_aha.destinations import (
    DEAD_LETTER_MARKER,
    AhaDestination,
    WriteReport,
    build_aha_write_job,
    build_aha_write_op,
    build_aha_write_sensor,
    dead_letter_records,
)
from dagster_aha.testing import AhaSandbox

RELEASE = "PRJ1-R-1"


def feature_dest() -> AhaDestination:
    return AhaDestination(template="create_feature", path_params={"release_id": RELEASE})


def test_20000_failing_records_log_one_warning_and_bounded_failure(
    aha_sandbox: AhaSandbox,
) -> None:
    write = build_aha_write_op(feature_dest(), name="push")
    huge = ("x" * 1_000_000,)

    @dg.op
    def upstream() -> list:
        # every record fails alone (no name); the first one's error would carry 1 MB
        return [{huge: 1, "name": "n"}] + [{"title": f"t{i}"} for i in range(20_000)]

    @dg.job
    def pipeline() -> None:
        write(upstream())

    with dg.instance_for_test() as instance:
        result = pipeline.execute_in_process(
            resources={"aha": aha_sandbox.resource()}, instance=instance, raise_on_error=False
        )
        logs = instance.all_logs(result.run_id)
    assert not result.success
    warnings = [e for e in logs if e.level == logging.WARNING and e.step_key == "push"]
    assert len(warnings) == 1, [w.user_message[:80] for w in warnings]
    assert "20001 of 20001 record(s) were not written" in warnings[0].user_message
    assert len(warnings[0].user_message) < 5_000
    failure = result.failure_data_for_node("push")
    assert failure is not None and failure.user_failure_data is not None
    assert len(failure.user_failure_data.description or "") < 5_000
    failed_md = failure.user_failure_data.metadata["failed"].value
    assert len(json.dumps(failed_md)) < 100_000
    assert len(failed_md) == 51 and failed_md[-1] == "... 19951 more"
    report: WriteReport = result.output_for_node("push")
    big = report.outcomes[0].error or ""
    assert len(big) < 2_100 and "chars)" in big  # one record's error is an excerpt + size
    assert len(json.dumps(failed_md[0])) < 3_000 and "chars)" in failed_md[0]["record"]


def test_only_marked_dead_letter_rows_are_unwrapped() -> None:
    ordinary = {"record": "a column named record", "status": "open", "name": "x"}
    marked = {DEAD_LETTER_MARKER: 1, "record": {"name": "y"}, "status": "failed"}
    skipped = {DEAD_LETTER_MARKER: 1, "record": {"name": "z"}, "status": "failed"}
    assert dead_letter_records([ordinary, marked]) == [ordinary, {"name": "y"}]
    skipped["retryable"] = False
    assert dead_letter_records([skipped, ordinary], retryable_only=True) == [ordinary]


def test_write_sensor_processes_every_delta_in_order(
    aha_sandbox: AhaSandbox, tmp_path: Any
) -> None:
    batches = [[{"title": f"d{n}-{i}"} for i in range(2)] for n in range(3)]
    io = dg.FilesystemIOManager(base_dir=str(tmp_path / "io"))

    @dg.asset(name="delta_rows")
    def delta_rows(context) -> dg.Output[list]:  # type: ignore[no-untyped-def]
        n = int(context.run.tags["batch"])
        return dg.Output(batches[n], metadata={"aha/sync_mode": "incremental"})

    dest = AhaDestination(
        template="create_feature",
        path_params={"release_id": RELEASE},
        field_mapping={"title": "name"},
    )
    job = build_aha_write_job(dest, name="push_deltas")
    sensor = build_aha_write_sensor(dest, upstream="delta_rows", job=job)
    with dg.instance_for_test() as instance:
        run_keys: list[str] = []
        written: list[str] = []
        cursor: str | None = None
        for n in range(3):
            dg.materialize(
                [delta_rows],
                instance=instance,
                resources={"io_manager": io},
                tags={"batch": str(n)},
            )
            if n == 0:
                continue  # two deltas land before the first tick: none may be skipped
            ctx = dg.build_sensor_context(instance=instance, cursor=cursor)
            result = sensor.evaluate_tick(ctx)
            cursor = result.cursor
            for req in result.run_requests or []:
                run_keys.append(req.run_key or "")
                cfg = req.run_config["ops"]["push_deltas_records"]["config"]
                assert cfg["upstream_mode"] == "deltas"
                out = job.execute_in_process(
                    run_config=req.run_config,
                    instance=instance,
                    resources={"aha": aha_sandbox.resource(), "io_manager": io},
                )
                written += [
                    o.request["body"]["feature"]["name"]
                    for o in out.output_for_node("push_deltas_write").outcomes
                    if o.status == "created"
                ]  # type: ignore[index]
        mats = instance.fetch_materializations(dg.AssetKey("delta_rows"), limit=10, ascending=True)
        assert run_keys == [str(r.storage_id) for r in mats.records]  # every one, in order
    names = {f["name"] for f in aha_sandbox.state.records("features")}
    assert {f"d{n}-{i}" for n in (1, 2) for i in range(2)} <= names
    assert len(written) == len(set(written))
