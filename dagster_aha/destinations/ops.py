"""Dagster ops and jobs that write records to an Aha! destination.

* :func:`build_aha_write_op` — an op with input ``records: list[dict]`` and output
  :class:`WriteReport`. Run config ``{"dry_run": true}`` makes one run a dry run from the UI.
  With ``fail_on_error`` (default) the op writes **every** record first, emits the report, and
  only then fails (``dagster.Failure`` carrying the counts and the failed records as metadata).
* :func:`build_aha_write_job` — ``<name>_records`` (loads the records) -> ``<name>`` (writes).
  The records come from run config, either inline (``records: [...]``) or from an upstream
  asset (``asset_key: [...]``, loaded through the job's ``io_manager`` resource, optionally
  pinned to the materialization ``storage_id`` that triggered the run; see
  :func:`build_aha_write_sensor`). Dead-letter rows (``{"record": ..., "status": ...}``) are
  unwrapped, so a dead-letter asset can be replayed through the same job.
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg

from dagster_aha.destinations.destination import AhaDestination
from dagster_aha.destinations.engine import write_records
from dagster_aha.destinations.report import WriteOutcome, WriteReport

__all__ = [
    "RECORDS_OP_TAG",
    "AhaRecordsConfig",
    "AhaWriteConfig",
    "build_aha_write_job",
    "build_aha_write_op",
    "dead_letter_records",
    "report_metadata",
]

RECORDS_OP_TAG = "dagster_aha/records_op"
"""Job tag naming the op that loads the records (read by :func:`build_aha_write_sensor`)."""


class AhaWriteConfig(dg.Config):
    """Run config of a write op/asset."""

    dry_run: bool | None = None
    """Render only, send nothing (None: use the destination's ``dry_run``)."""


class AhaRecordsConfig(dg.Config):
    """Run config of the records loader of :func:`build_aha_write_job`."""

    records: list[dict[str, Any]] | None = None
    """Records given inline."""
    asset_key: list[str] | None = None
    """Load the records from this asset (via the ``io_manager`` resource)."""
    storage_id: int | None = None
    """The materialization that triggered the run; if a newer one exists, nothing is written
    (the run for the newer materialization writes the current value)."""


def dead_letter_records(rows: Sequence[Any], *, retryable_only: bool = False) -> list[Any]:
    """The original records of dead-letter rows (rows without ``record`` are kept as is)."""
    out: list[Any] = []
    for row in rows:
        if isinstance(row, Mapping) and "record" in row and "status" in row:
            if retryable_only and not row.get("retryable"):
                continue
            out.append(row["record"])
        else:
            out.append(row)
    return out


def _truncate_json(value: Any, limit: int = 50) -> Any:
    if isinstance(value, list) and len(value) > limit:
        return [*value[:limit], f"... {len(value) - limit} more"]
    return value


def report_metadata(report: WriteReport) -> dict[str, Any]:
    """Metadata describing a write run (counts per status, requests, ids, preview)."""
    md: dict[str, Any] = {
        "destination": report.destination,
        "records": len(report.outcomes),
        "ok": report.ok,
        "dry_run": report.dry_run,
        "requests": report.requests,
        "duration_seconds": round(report.duration_seconds, 3),
        "counts": dg.MetadataValue.json(report.counts),
        "ids_created": dg.MetadataValue.json(_truncate_json(report.created_ids)),
        "preview": dg.MetadataValue.md(report.markdown_preview()),
    }
    for status, n in report.counts.items():
        md[f"count_{status}"] = n
    if report.http_attempts is not None:
        md["http_attempts"] = report.http_attempts
    if report.rate_limited is not None:
        md["rate_limited_429"] = report.rate_limited
    return md


def _failure(report: WriteReport) -> dg.Failure:
    bad = report.failed_outcomes()
    first = "; ".join(f"#{o.index}: {o.error}" for o in bad[:3])
    md = report_metadata(report)
    md["failed"] = dg.MetadataValue.json(
        _truncate_json([json.loads(json.dumps(r, default=str)) for r in report.dead_letter_rows()])
    )
    return dg.Failure(
        description=(
            f"{len(bad)} of {len(report.outcomes)} record(s) were not written to Aha! "
            f"({report.summary()}). First: {first}"
        ),
        metadata=md,
    )


def _log_outcome(context: dg.OpExecutionContext, outcome: WriteOutcome) -> None:
    if outcome.status in ("failed", "ambiguous"):
        context.log.warning(f"record #{outcome.index} {outcome.status}: {outcome.error}")


def run_write(
    context: dg.OpExecutionContext,
    destination: AhaDestination,
    resource_key: str,
    records: Any,
    dry_run: bool | None,
) -> WriteReport:
    """Write ``records`` with the resource ``resource_key`` of ``context`` (shared by op/asset)."""
    if not isinstance(records, list | tuple):
        raise dg.Failure(
            description=f"expected the records as a list of dicts, got {type(records).__name__}"
        )
    is_dry = destination.dry_run if dry_run is None else dry_run
    client = None if is_dry else getattr(context.resources, resource_key).get_client()
    report = write_records(
        client,
        destination,
        records,
        dry_run=is_dry,
        on_outcome=lambda o: _log_outcome(context, o),
    )
    context.log.info(report.summary())
    return report


def build_aha_write_op(
    destination: AhaDestination,
    *,
    name: str,
    resource_key: str = "aha",
    pool: str | None = "aha",
    fail_on_error: bool = True,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> dg.OpDefinition:
    """An op writing its ``records`` input to ``destination``; its output is the WriteReport.

    ``fail_on_error``: after writing everything, fail the step when any record failed or is
    ambiguous (the report is emitted first, and attached to the failure as metadata).
    """

    @dg.op(
        name=name,
        description=description or f"Write records to Aha!: {destination.label}",
        ins={"records": dg.In(dagster_type=list)},
        out=dg.Out(WriteReport),
        required_resource_keys={resource_key},
        pool=pool,
        tags=dict(tags or {}),
    )
    def _write(
        context: dg.OpExecutionContext, config: AhaWriteConfig, records: list
    ) -> Iterator[dg.Output[WriteReport]]:
        report = run_write(context, destination, resource_key, records, config.dry_run)
        yield dg.Output(report, metadata=report_metadata(report))
        if fail_on_error and not report.ok:
            raise _failure(report)

    return _write


def _load_asset_value(context: dg.OpExecutionContext, key: dg.AssetKey) -> Any:
    io_manager = context.resources.io_manager
    with dg.build_input_context(
        name="records", asset_key=key, instance=context.instance
    ) as input_context:
        return io_manager.load_input(input_context)


def build_aha_write_job(
    destination: AhaDestination,
    *,
    name: str,
    resource_key: str = "aha",
    pool: str | None = "aha",
    fail_on_error: bool = True,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    resource_defs: Mapping[str, Any] | None = None,
) -> dg.JobDefinition:
    """A job ``<name>_records`` -> ``<name>`` that writes records given by run config.

    Run config (op ``<name>_records``): ``records`` inline, or ``asset_key`` (+ ``storage_id``)
    to load an upstream asset's value through the ``io_manager`` resource. The write op
    (``<name>``) takes ``dry_run``. Example::

        job.execute_in_process(run_config={"ops": {"push_records": {"config": {
            "records": [{"name": "A"}]}}}}, resources={"aha": aha_resource})
    """
    records_op_name = f"{name}_records"

    @dg.op(
        name=records_op_name,
        description="Load the records to write (inline run config or an upstream asset).",
        required_resource_keys={"io_manager"},
        out=dg.Out(list),
    )
    def _records(context: dg.OpExecutionContext, config: AhaRecordsConfig) -> list:
        if config.records is not None:
            return dead_letter_records(config.records)
        if not config.asset_key:
            raise dg.Failure(
                description=f"give records or asset_key in the run config of {records_op_name}"
            )
        key = dg.AssetKey(config.asset_key)
        if config.storage_id is not None:
            latest = context.instance.fetch_materializations(key, limit=1).records
            if latest and latest[0].storage_id > config.storage_id:
                context.log.warning(
                    f"{key.to_user_string()} was materialized again (storage id "
                    f"{latest[0].storage_id} > {config.storage_id}); this run writes nothing, "
                    "the run for the newer materialization writes its current value"
                )
                return []
        value = _load_asset_value(context, key)
        if isinstance(value, Mapping):
            value = [value]
        if not isinstance(value, list | tuple):
            raise dg.Failure(
                description=f"asset {key.to_user_string()} holds {type(value).__name__}, "
                "expected a list of records"
            )
        return dead_letter_records(list(value))

    write_op = build_aha_write_op(
        destination,
        name=f"{name}_write",
        resource_key=resource_key,
        pool=pool,
        fail_on_error=fail_on_error,
    )

    @dg.graph(name=name)
    def _graph() -> Any:
        return write_op(_records())

    return _graph.to_job(
        name=name,
        description=description or f"Write records to Aha!: {destination.label}",
        tags={**(tags or {}), RECORDS_OP_TAG: records_op_name},
        resource_defs=dict(resource_defs) if resource_defs else None,
    )
