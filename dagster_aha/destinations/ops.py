"""Dagster ops and jobs that write records to an Aha! destination.

* :func:`build_aha_write_op` — an op with input ``records: list[dict]`` and output
  :class:`WriteReport`. Run config ``{"dry_run": true}`` makes one run a dry run from the UI.
  With ``fail_on_error`` (default) the op writes **every** record first, emits the report, and
  only then fails (``dagster.Failure`` carrying the counts and the failed records as metadata).
* :func:`build_aha_write_job` — ``<name>_records`` (loads the records) -> ``<name>`` (writes).
  The records come from run config, either inline (``records: [...]``) or from an upstream
  asset (``asset_key: [...]``, loaded through the job's ``io_manager`` resource, optionally
  pinned to the materialization ``storage_id`` that triggered the run; see
  :func:`build_aha_write_sensor`). Dead-letter rows (marked ``dagster_aha_dead_letter``) are
  unwrapped, so a dead-letter asset can be replayed through the same job; ordinary rows are
  never unwrapped, whatever their columns.

Every write uses a :class:`WriteLedger` by default (``ledger=True``): the Dagster instance's
(``DAGSTER_AHA_WRITE_LEDGER_URL``, else a SQLite file in the instance's storage directory).
Pass a ``WriteLedger``, a URL/path, or ``False`` (no ledger).

Logs stay bounded: one summary warning with a sample of the failed records (each error an
excerpt with its size), never one warning per failed record.
"""

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import dagster as dg

from dagster_aha.destinations.destination import AhaDestination
from dagster_aha.destinations.engine import write_records
from dagster_aha.destinations.guardrails import MaxFailed, enforce_guardrails, failure_limit
from dagster_aha.destinations.ledger import WriteLedger
from dagster_aha.destinations.metadata import plan_metadata, planned_vs_done
from dagster_aha.destinations.report import (
    DEAD_LETTER_MARKER,
    WriteReport,
    excerpt,
    json_excerpt,
)

__all__ = [
    "RECORDS_OP_TAG",
    "AhaRecordsConfig",
    "AhaWriteConfig",
    "LedgerOption",
    "build_aha_write_job",
    "build_aha_write_op",
    "dead_letter_records",
    "report_metadata",
    "resolve_ledger",
]

RECORDS_OP_TAG = "dagster_aha/records_op"
"""Job tag naming the op that loads the records (read by :func:`build_aha_write_sensor`)."""

#: ``True``: the instance's ledger; ``False``: none; a URL/path or a ``WriteLedger``.
LedgerOption = WriteLedger | str | bool

#: How many failed records the summary warning and the failure description show.
LOG_SAMPLE = 5

_ledgers: dict[str, WriteLedger] = {}
_ledgers_lock = threading.Lock()


def resolve_ledger(ledger: LedgerOption, instance: Any) -> WriteLedger | None:
    """The ledger a write step uses (one ``WriteLedger`` per URL in the process)."""
    if ledger is False:
        return None
    if isinstance(ledger, WriteLedger):
        return ledger
    if ledger is True:
        probe = WriteLedger.for_instance(instance) if instance is not None else WriteLedger()
        url = probe.url
        with _ledgers_lock:
            if url not in _ledgers:
                _ledgers[url] = probe
            else:
                probe.close()
            return _ledgers[url]
    with _ledgers_lock:
        if ledger not in _ledgers:
            _ledgers[ledger] = WriteLedger(ledger)
        return _ledgers[ledger]


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
    (the run for the newer materialization writes the current value), unless ``upstream_mode``
    is ``"deltas"``."""
    upstream_mode: Literal["snapshot", "deltas"] = "snapshot"
    """``"snapshot"``: the upstream value is the whole data set, only the latest matters.
    ``"deltas"``: each materialization holds new records: every run writes what it loads."""


def dead_letter_records(rows: Sequence[Any], *, retryable_only: bool = False) -> list[Any]:
    """The original records of dead-letter rows; other rows are kept as they are.

    Only rows marked as dead-letter rows (``dagster_aha_dead_letter``, as written by
    :meth:`WriteReport.dead_letter_rows`) are unwrapped: an ordinary upstream row that happens
    to have ``record`` and ``status`` columns is written as is.
    """
    out: list[Any] = []
    for row in rows:
        if isinstance(row, Mapping) and row.get(DEAD_LETTER_MARKER) and "record" in row:
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
    md.update(planned_vs_done(report))
    if report.plan is not None:
        md.update(plan_metadata(report.plan))
    if report.errors:
        md["errors"] = dg.MetadataValue.json(report.errors)
    return md


def _sample(report: WriteReport, n: int = LOG_SAMPLE) -> str:
    bad = report.failed_outcomes()
    return "; ".join(f"#{o.index} {o.status}: {excerpt(o.error or '', 300)}" for o in bad[:n])


def _failed_rows_metadata(report: WriteReport, limit: int = 50) -> list[Any]:
    """The dead-letter rows for metadata: at most ``limit``, each record and error excerpted."""
    rows = report.dead_letter_rows()
    out: list[Any] = []
    for row in rows[:limit]:
        item = dict(row)
        item["record"] = json_excerpt(item.get("record"), 1000)
        item["error"] = excerpt(item.get("error") or "", 500) or None
        out.append(json.loads(json.dumps(item, default=str)))
    if len(rows) > limit:
        out.append(f"... {len(rows) - limit} more")
    return out


def _failure(report: WriteReport, reason: str | None = None) -> dg.Failure:
    bad = report.failed_outcomes()
    md = report_metadata(report)
    md["failed"] = dg.MetadataValue.json(_failed_rows_metadata(report))
    head = f"{reason}. " if reason else ""
    first = f" First: {_sample(report, 3)}" if bad else ""
    return dg.Failure(
        description=(
            f"{head}{len(bad)} of {len(report.outcomes)} record(s) were not written to Aha! "
            f"({report.summary()}).{first}"
        ),
        metadata=md,
    )


def _log_summary(context: dg.OpExecutionContext, report: WriteReport) -> None:
    """One info line, and one warning with a sample when records failed (never one per
    record: 20,000 failures are one warning)."""
    context.log.info(report.summary())
    bad = report.failed_outcomes()
    if bad:
        more = f" (and {len(bad) - LOG_SAMPLE} more)" if len(bad) > LOG_SAMPLE else ""
        context.log.warning(
            f"{len(bad)} of {len(report.outcomes)} record(s) were not written "
            f"(failed={report.counts['failed']}, ambiguous={report.counts['ambiguous']}); "
            f"first {min(len(bad), LOG_SAMPLE)}: {_sample(report)}{more}. The outcome "
            "table / dead letter holds every one."
        )


def _max_failed(max_failed: MaxFailed, destination: AhaDestination) -> MaxFailed:
    return max_failed if max_failed is not None else destination.max_failed


def run_write(
    context: dg.OpExecutionContext,
    destination: AhaDestination,
    resource_key: str,
    records: Any,
    dry_run: bool | None,
    ledger: LedgerOption = True,
) -> WriteReport:
    """Write ``records`` with the resource ``resource_key`` of ``context`` (shared by op/asset)."""
    if not isinstance(records, list | tuple):
        raise dg.Failure(
            description=f"expected the records as a list of dicts, got {type(records).__name__}"
        )
    is_dry = destination.dry_run if dry_run is None else dry_run
    resource = getattr(context.resources, resource_key)
    if is_dry:
        # a dry run plans with look-ups (reads only); without a usable client it plans
        # from the ledger alone
        try:
            client = resource.get_client()
        except Exception as exc:
            context.log.warning(f"dry run without look-ups (no Aha! client: {exc})")
            client = None
    else:
        client = resource.get_client()
    report = write_records(
        client,
        destination,
        records,
        dry_run=is_dry,
        ledger=resolve_ledger(ledger, context.instance),  # a dry run only reads it
        run_id=context.run_id,
    )
    _log_summary(context, report)
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
    ledger: LedgerOption = True,
    max_failed: MaxFailed = None,
    dry_run: bool | None = None,
) -> dg.OpDefinition:
    """An op writing its ``records`` input to ``destination``; its output is the WriteReport.

    ``fail_on_error``: after writing everything, fail the step when any record failed or is
    ambiguous (the report is emitted first, and attached to the failure as metadata).
    ``ledger``: the write ledger (default: the instance's; see the module doc).
    ``max_failed``: a count or a ratio of failed/ambiguous records above which the step fails
    (after writing everything); at or below it the step succeeds with a warning. It replaces
    ``fail_on_error`` (``True`` = ``max_failed=0``) when given. A run carrying an error (mirror
    deletes above ``max_deletes``) fails too. The output of a dry run carries the
    :class:`WritePlan` (``report.plan``).
    ``dry_run=True``: every run is a dry run unless run config says otherwise.
    """
    limit = failure_limit(fail_on_error, _max_failed(max_failed, destination))

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
        is_dry = config.dry_run if config.dry_run is not None else dry_run
        report = run_write(context, destination, resource_key, records, is_dry, ledger)
        yield dg.Output(report, metadata=report_metadata(report))
        enforce_guardrails(context, report, limit, _failure)

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
    ledger: LedgerOption = True,
    max_failed: MaxFailed = None,
    dry_run: bool | None = None,
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
        if config.storage_id is not None and config.upstream_mode == "snapshot":
            latest = context.instance.fetch_materializations(key, limit=1).records
            if latest and latest[0].storage_id > config.storage_id:
                context.log.warning(
                    f"{key.to_user_string()} was materialized again (storage id "
                    f"{latest[0].storage_id} > {config.storage_id}); this run writes nothing, "
                    "the run for the newer materialization writes its current value"
                )
                return []
        if config.storage_id is not None and config.upstream_mode == "deltas":
            newer = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=config.storage_id),
                limit=1,
            ).records
            if newer:
                context.log.warning(
                    f"{key.to_user_string()} was materialized again after storage id "
                    f"{config.storage_id}; the IO manager now holds the newer delta, which "
                    "this run writes (the write ledger skips what was already written)"
                )
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
        max_failed=max_failed,
        dry_run=dry_run,
        ledger=ledger,
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
