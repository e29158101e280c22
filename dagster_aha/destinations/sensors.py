"""A sensor that launches a write run for each new materialization of an upstream asset.

The sensor is the "activation" switch of a destination: it is created STOPPED; start it in the UI
(or ``default_status=RUNNING``) to begin sending data.

Each tick reads the upstream asset's materializations after the cursor (ascending storage id)
and emits one ``RunRequest`` per materialization:

* ``run_key`` = the event's storage id, so a retried or re-evaluated tick never launches a second
  write for the same materialization;
* for a job built by :func:`build_aha_write_job`, the run config tells its records op to load
  ``asset_key`` through the job's ``io_manager`` and pins ``storage_id`` (if the asset was
  materialized again before the run started, that run writes nothing and the newer run writes the
  current value: no double writes). The job must use the same IO manager as the upstream asset
  (e.g. a shared ``FilesystemIOManager``);
* for any other job (e.g. an asset job selecting the destination asset) no run config is added.

Which materializations a tick takes depends on ``upstream_mode``:

* ``"snapshot"``: each value is the whole data set, so only the latest matters: the first tick
  (no cursor) takes only the latest materialization, and a run whose materialization was
  superseded before it started writes nothing (the newer run writes the current value);
* ``"deltas"``: each value holds new or changed records (incremental assets): every
  materialization is processed, in ascending storage-id order, none skipped, the first tick
  starting from the first materialization; every run writes what it loads. The write ledger
  (used by the job by default) makes a record that two runs load sent once. Use an IO manager
  that keeps each materialization's value addressable, or let the sensor tick more often than
  the upstream materializes: an IO manager that only keeps the latest value hands an older
  run the newer delta;
* ``"auto"`` (default): ``"deltas"`` when the latest materialization's metadata says
  ``aha/sync_mode: incremental`` (the incremental Aha! assets of this package), else
  ``"snapshot"``.

The cursor is the last storage id handled. A tick stops after ``max_runs_per_tick`` requests or
``time_budget_seconds`` (default 40 s, under Dagster's 60 s sensor timeout) and continues on the
next tick.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import dagster as dg

from dagster_aha.destinations.destination import AhaDestination
from dagster_aha.destinations.ops import RECORDS_OP_TAG

__all__ = ["build_aha_write_sensor"]

_FETCH_LIMIT = 100


def build_aha_write_sensor(
    destination: AhaDestination,
    *,
    upstream: dg.AssetKey | str,
    job: dg.JobDefinition | dg.UnresolvedAssetJobDefinition,
    minimum_interval_seconds: int = 30,
    name: str | None = None,
    max_runs_per_tick: int = 25,
    time_budget_seconds: float = 40.0,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    upstream_mode: Literal["auto", "snapshot", "deltas"] = "auto",
) -> dg.SensorDefinition:
    """One ``RunRequest`` of ``job`` per new materialization of ``upstream`` (see module doc)."""
    upstream_key = dg.AssetKey.from_coercible(upstream)
    sensor_name = name or f"{job.name}_on_{'_'.join(upstream_key.path)}"
    records_op = (job.tags or {}).get(RECORDS_OP_TAG)

    @dg.sensor(
        name=sensor_name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            f"Writes each new materialization of {upstream_key.to_user_string()} to Aha! "
            f"({destination.label}). Stopped = destination not activated."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        started = time.monotonic()
        cursor = int(context.cursor) if context.cursor else None
        latest = context.instance.fetch_materializations(upstream_key, limit=1).records
        mode = upstream_mode if upstream_mode != "auto" else _detect_mode(latest)
        if cursor is None and mode == "snapshot":
            candidates = list(latest)
        else:
            candidates = []
            after = cursor
            while len(candidates) < max_runs_per_tick:
                result = context.instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=upstream_key, after_storage_id=after),
                    limit=min(_FETCH_LIMIT, max_runs_per_tick - len(candidates)),
                    ascending=True,
                )
                candidates.extend(result.records)
                if not result.has_more or not result.records:
                    break
                after = result.records[-1].storage_id
                if time.monotonic() - started > time_budget_seconds:
                    break
        run_requests: list[dg.RunRequest] = []
        last = cursor
        for record in candidates[:max_runs_per_tick]:
            if time.monotonic() - started > time_budget_seconds:
                break
            storage_id = record.storage_id
            run_config: dict = {}
            if records_op:
                run_config = {
                    "ops": {
                        records_op: {
                            "config": {
                                "asset_key": list(upstream_key.path),
                                "storage_id": storage_id,
                                "upstream_mode": mode,
                            }
                        }
                    }
                }
            run_requests.append(
                dg.RunRequest(
                    run_key=str(storage_id),
                    run_config=run_config,
                    tags={
                        "dagster_aha/upstream": upstream_key.to_user_string(),
                        "dagster_aha/upstream_storage_id": str(storage_id),
                        "dagster_aha/upstream_mode": mode,
                    },
                )
            )
            last = storage_id
        if not run_requests:
            return dg.SensorResult(
                skip_reason=f"no new materialization of {upstream_key.to_user_string()}",
                cursor=str(last) if last is not None else None,
            )
        return dg.SensorResult(run_requests=run_requests, cursor=str(last))

    return _sensor


def _detect_mode(latest: Any) -> Literal["snapshot", "deltas"]:
    """``"deltas"`` when the latest materialization says ``aha/sync_mode: incremental``."""
    for record in latest:
        materialization = getattr(record, "asset_materialization", None)
        metadata = getattr(materialization, "metadata", None) or {}
        value = metadata.get("aha/sync_mode")
        text = getattr(value, "value", value)
        if text == "incremental":
            return "deltas"
    return "snapshot"
