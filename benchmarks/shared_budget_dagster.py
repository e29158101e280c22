"""The Dagster part of :mod:`benchmarks.shared_budget`: a product-partitioned asset job, and
one run worker process per partition (``execute_job`` with the multiprocess executor).

``dagster_job`` is the job's reconstructor: Dagster calls it in every run and step process
(``build_reconstructable_job("benchmarks.shared_budget_dagster", "dagster_job", ...)``).
"""

from __future__ import annotations

import os
import time
from typing import Any

JOB_NAME = "aha_features_by_product"


def sleep_until(epoch: float) -> float:
    """Sleep until wall-clock ``epoch``; return how late we were (0 when on time)."""
    delay = epoch - time.time()
    if delay > 0:
        time.sleep(delay)
        return 0.0
    return -delay


def dagster_job(
    url: str,
    api_key: str,
    products: list[str],
    budget_store: str,
    requests_per_second: float,
    requests_per_minute: float,
) -> Any:
    """Reconstructor of the partitioned asset job (called in every run and step process)."""
    from dagster import AssetSelection, Definitions, define_asset_job, multiprocess_executor

    from dagster_aha.resource import AhaResource
    from dagster_aha.sources import build_aha_assets

    assets = build_aha_assets(streams=["features"], product_partitions=products, incremental=False)
    job = define_asset_job(
        JOB_NAME, selection=AssetSelection.assets(*assets), executor_def=multiprocess_executor
    )
    defs = Definitions(
        assets=assets,
        jobs=[job],
        resources={
            "aha": AhaResource(
                base_url=url,
                api_key=api_key,
                budget_store=budget_store,
                requests_per_second=requests_per_second,
                requests_per_minute=requests_per_minute,
            )
        },
    )
    return defs.resolve_job_def(JOB_NAME)


def init_dagster_home(dagster_home: str) -> None:
    """Create the instance's storage once, before runs start concurrently (several processes
    creating the same SQLite schema at once race in alembic). Runs in the harness process."""
    os.makedirs(dagster_home, exist_ok=True)
    with open(os.path.join(dagster_home, "dagster.yaml"), "w", encoding="utf-8") as fh:
        fh.write("telemetry:\n  enabled: false\n")
    from dagster import DagsterInstance

    with DagsterInstance.from_config(dagster_home) as instance:
        instance.get_run_records(limit=1)


def run_dagster_partition(
    dagster_home: str,
    job_kwargs: dict[str, Any],
    *,
    partition: str,
    start_at: float,
) -> dict[str, Any]:
    """One run worker process: ``execute_job`` of one partition with the multiprocess executor."""
    os.environ["DAGSTER_HOME"] = dagster_home
    from dagster import DagsterInstance, build_reconstructable_job, execute_job

    recon = build_reconstructable_job(
        "benchmarks.shared_budget_dagster", "dagster_job", reconstructable_kwargs=job_kwargs
    )
    with DagsterInstance.get() as instance:
        late = sleep_until(start_at)
        t0 = time.time()
        result = execute_job(
            recon,
            instance,
            run_config={
                "execution": {"config": {"max_concurrent": 4}},
                "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            },
            tags={"dagster/partition": partition},
        )
        t1 = time.time()
        from dagster import DagsterEventType

        # when the step process had started and loaded the code (Dagster's own clock): the
        # earliest moment the step's reads could begin
        step_started = [
            e.timestamp
            for e in instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_START)
        ]
        rows = 0
        step_pids: set[int] = set()
        for event in result.all_events:
            if event.event_type_value == "STEP_START" and event.pid is not None:
                step_pids.add(event.pid)  # emitted by the process that runs the step
        for event in result.get_asset_materialization_events():
            mat = event.step_materialization_data.materialization
            count = mat.metadata.get("dagster/row_count")
            if count is not None:
                rows += int(count.value)  # type: ignore[arg-type]
        return {
            "partition": partition,
            "success": result.success,
            "records": rows,
            "started": t0,
            "finished": t1,
            "late_start_s": late,
            "run_pid": os.getpid(),
            "step_pids": sorted(step_pids),
            "step_started": min(step_started) if step_started else None,
        }
