"""The destination asset: write an upstream asset's rows to Aha! and keep the outcome table.

:func:`aha_destination_asset` builds one multi-asset with two outputs:

* ``<key_prefix>/<name>``: the outcome table (one row per upstream record: status, Aha! id,
  reference, url, error, the request) — Nexla's "response webhook" as an asset;
* ``<key_prefix>/<name>_dead_letter``: the failed and ambiguous records with their reasons
  (``{"index", "status", "http_status", "error", "retryable", "record"}``); replay them with
  :func:`build_aha_write_job` (``asset_key`` of the dead letter) or
  :func:`dead_letter_records`.

With ``automation_condition=AutomationCondition.eager()`` the destination is written every time
the upstream asset materializes (enable the automation condition sensor).
"""

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import dagster as dg

from dagster_aha.destinations.destination import AhaDestination
from dagster_aha.destinations.guardrails import MaxFailed, enforce_guardrails, failure_limit
from dagster_aha.destinations.metadata import column_lineage
from dagster_aha.destinations.ops import (
    AhaWriteConfig,
    LedgerOption,
    _failure,
    report_metadata,
    run_write,
)
from dagster_aha.destinations.plan import PLAN_COLUMNS
from dagster_aha.destinations.report import DEAD_LETTER_MARKER, ROW_COLUMNS, WriteReport, excerpt

__all__ = ["DEAD_LETTER_CHECK", "aha_destination_asset", "outcome_table_metadata"]

#: Name of the asset check on the dead-letter asset (fails when it holds records).
DEAD_LETTER_CHECK = "dead_letter_is_empty"

_DEAD_LETTER_COLUMNS: tuple[tuple[str, str], ...] = (
    (DEAD_LETTER_MARKER, "int"),
    ("index", "int"),
    ("status", "string"),
    ("http_status", "int"),
    ("error", "string"),
    ("retryable", "bool"),
    ("record", "json"),
)


def _schema(columns: Sequence[tuple[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, type_) for name, type_ in columns])


def _table_metadata(rows: int, columns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    # The keys of dagster's TableMetadataSet (not exported at the top level in dagster 1.13).
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(_schema(columns)),
    }


def outcome_table_metadata(report: WriteReport) -> dict[str, Any]:
    """Metadata of the outcome table: report metadata + row count and column schema (a dry
    run's table is its plan: one row per planned item, :data:`PLAN_COLUMNS`)."""
    if report.plan is not None:
        return {
            **report_metadata(report),
            **_table_metadata(len(report.plan.items), PLAN_COLUMNS),
        }
    return {
        **report_metadata(report),
        **_table_metadata(len(report.outcomes), ROW_COLUMNS),
    }


def _dead_letter_preview(rows: list[dict[str, Any]], limit: int = 20) -> str:
    lines = ["| # | status | http | error |", "|---|---|---|---|"]
    for row in rows[:limit]:
        err = excerpt(str(row.get("error") or "").replace("|", "\\|").replace("\n", " "), 160)
        lines.append(
            f"| {row['index']} | {row['status']} | {row.get('http_status') or ''} | {err} |"
        )
    if len(rows) > limit:
        lines.append(f"\n… {len(rows) - limit} more")
    return "\n".join(lines) if rows else "No failed or ambiguous records."


def aha_destination_asset(
    destination: AhaDestination,
    *,
    upstream: dg.AssetKey | str | Sequence[str],
    name: str,
    automation_condition: dg.AutomationCondition | None = None,
    pool: str | None = "aha",
    resource_key: str = "aha",
    key_prefix: Sequence[str] = ("aha",),
    group_name: str | None = None,
    description: str | None = None,
    fail_on_error: bool = True,
    ledger: LedgerOption = True,
    max_failed: MaxFailed = None,
    dead_letter_check_severity: Literal["WARN", "ERROR"] = "ERROR",
    dry_run: bool | None = None,
) -> dg.AssetsDefinition:
    """Write the upstream asset's value (a list of dicts) to ``destination``.

    Materializes ``<key_prefix>/<name>`` (the outcome rows) and ``<key_prefix>/<name>_dead_letter``
    (failed + ambiguous records with reasons). Metadata: counts per status, requests, ids
    created, a Markdown preview, ``dagster/row_count`` and ``dagster/column_schema``.
    Run config ``{"dry_run": true}`` renders without sending. With ``fail_on_error`` the step
    fails after both assets were materialized when any record failed or is ambiguous.
    ``ledger``: the write ledger (default: the instance's), so re-executions, retries and
    concurrent runs never send a record twice.

    ``max_failed`` (a count or a ratio; replaces ``fail_on_error``, ``True`` = ``0``): above it
    the step fails after both assets were stored, at or below it succeeds with a warning. The
    asset check ``dead_letter_is_empty`` on the dead letter fails (``dead_letter_check_severity``)
    when it holds records. A dry run (``dry_run``) stores the :class:`WritePlan` as the outcome
    table (totals and a Markdown sample in the metadata). The outcome metadata also carries
    planned vs done counts, the requests used, and ``dagster/column_lineage`` from each upstream
    column to the Aha! field it feeds. ``dry_run=True``: every materialization is a dry run
    unless run config says otherwise.
    """
    limit = failure_limit(
        fail_on_error, max_failed if max_failed is not None else destination.max_failed
    )
    severity = dg.AssetCheckSeverity(dead_letter_check_severity)
    upstream_key = dg.AssetKey.from_coercible(upstream)
    prefix = list(key_prefix)
    out_key = dg.AssetKey([*prefix, name])
    dead_key = dg.AssetKey([*prefix, f"{name}_dead_letter"])
    op_name = "__".join([*prefix, name]).replace("-", "_")
    common: dict[str, Any] = {
        "group_name": group_name,
        "automation_condition": automation_condition,
        "kinds": {"aha"},
    }

    @dg.multi_asset(
        name=op_name,
        ins={"records": dg.AssetIn(key=upstream_key)},
        outs={
            "outcomes": dg.AssetOut(
                key=out_key,
                description=description
                or f"Per-record outcomes of writing {upstream_key.to_user_string()} to Aha! "
                f"({destination.label})",
                metadata={"dagster_aha/destination": destination.label},
                **common,
            ),
            "dead_letter": dg.AssetOut(
                key=dead_key,
                description=f"Records of {upstream_key.to_user_string()} that were not written "
                "to Aha! (failed or ambiguous) with the reason; replayable.",
                **common,
            ),
        },
        required_resource_keys={resource_key},
        pool=pool,
        check_specs=[
            dg.AssetCheckSpec(
                DEAD_LETTER_CHECK,
                asset=dead_key,
                description="Fails when the dead letter holds records (failed or ambiguous "
                "writes to replay or fix).",
            )
        ],
    )
    def _destination(
        context: dg.AssetExecutionContext, config: AhaWriteConfig, records: Any
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        report = run_write(
            context.op_execution_context,
            destination,
            resource_key,
            records,
            config.dry_run if config.dry_run is not None else dry_run,
            ledger,
        )
        dead = report.dead_letter_rows()
        rows = report.plan.to_rows() if report.plan is not None else report.to_rows()
        yield dg.MaterializeResult(
            asset_key=out_key,
            value=rows,
            metadata={
                **outcome_table_metadata(report),
                **column_lineage(destination, upstream_key, records),
            },
        )
        yield dg.MaterializeResult(
            asset_key=dead_key,
            value=dead,
            metadata={
                "records": len(dead),
                "retryable": sum(1 for r in dead if r["retryable"]),
                "preview": dg.MetadataValue.md(_dead_letter_preview(dead)),
                **_table_metadata(len(dead), _DEAD_LETTER_COLUMNS),
            },
        )
        yield dg.AssetCheckResult(
            asset_key=dead_key,
            check_name=DEAD_LETTER_CHECK,
            passed=not dead,
            severity=severity,
            metadata={"records": len(dead)},
            description=None
            if not dead
            else f"{len(dead)} record(s) were not written (failed or ambiguous)",
        )
        enforce_guardrails(context.op_execution_context, report, limit, _failure)

    return _destination
