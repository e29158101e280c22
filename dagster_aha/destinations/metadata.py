"""Sync metadata of a destination asset: the plan, planned vs done, and column lineage.

* :func:`plan_metadata`: a plan's totals (``plan_<action>``), writes and reads, and a Markdown
  table sample (``plan``); a dry run's outcome table is the plan itself (:data:`PLAN_COLUMNS`).
* :func:`planned_vs_done`: per action what the run planned and per status what it did, and
  the requests it used.
* :func:`column_lineage`: ``TableColumnLineage`` from each upstream column to the Aha! field
  it feeds (``name``, ``custom_fields.<key>``, a path parameter such as ``release_id``), derived
  from the destination's mapping (path params, ``exclude_attributes``, ``custom_fields``,
  ``field_mapping``). With a ``transform`` only the columns that keep their name are traced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg

from dagster_aha.destinations.destination import AhaDestination, FromField
from dagster_aha.destinations.plan import PLAN_ACTIONS, WritePlan, planned_action
from dagster_aha.destinations.report import WriteReport

__all__ = ["column_lineage", "field_sources", "plan_metadata", "planned_vs_done"]

_SAMPLE_RECORDS = 1000


def plan_metadata(plan: WritePlan, limit: int = 20) -> dict[str, Any]:
    md: dict[str, Any] = {
        "plan_totals": dg.MetadataValue.json(plan.totals),
        "plan_writes": plan.writes,
        "plan_reads": plan.reads,
        "plan": dg.MetadataValue.md(plan.markdown(limit)),
    }
    for action, n in plan.totals.items():
        md[f"plan_{action}"] = n
    if plan.errors:
        md["plan_errors"] = dg.MetadataValue.json(plan.errors)
    return md


def planned_vs_done(report: WriteReport) -> dict[str, Any]:
    planned = Counter(planned_action(o) for o in report.outcomes if o.status != "dry_run")
    done = {s: n for s, n in report.counts.items() if s != "dry_run"}
    md: dict[str, Any] = {
        "planned": dg.MetadataValue.json({a: planned.get(a, 0) for a in PLAN_ACTIONS}),
        "done": dg.MetadataValue.json(done),
        "requests_used": report.requests,
        "retries": sum(1 for o in report.outcomes if o.retry),
    }
    return md


def _columns(records: Iterable[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for n, record in enumerate(records):
        if n >= _SAMPLE_RECORDS:
            break
        if isinstance(record, Mapping):
            for key in record:
                if isinstance(key, str):
                    seen.setdefault(key, None)
    return list(seen)


def field_sources(destination: AhaDestination, columns: Iterable[str]) -> dict[str, list[str]]:
    """``{Aha! field: [upstream columns]}`` by the destination's mapping (see module doc)."""
    from_fields: dict[str, list[str]] = {}
    for param, spec in destination.path_params.items():
        if isinstance(spec, FromField):
            from_fields.setdefault(spec.from_field, []).append(param)
    out: dict[str, list[str]] = {}
    for column in columns:
        if column in from_fields:
            targets = from_fields[column]
        elif column in destination.exclude_attributes or column == "custom_fields":
            continue
        elif column in destination.custom_fields:
            targets = [f"custom_fields.{destination.custom_fields[column]}"]
        else:
            targets = [destination.field_mapping.get(column, column)]
        for target in targets:
            out.setdefault(target, []).append(column)
    return out


def column_lineage(
    destination: AhaDestination, upstream: dg.AssetKey, records: Iterable[Any]
) -> dict[str, Any]:
    """``dagster/column_lineage`` of the outcome asset (empty when nothing can be traced)."""
    columns = _columns(records)
    if destination.transform is not None:
        sample = [r for r in records if isinstance(r, Mapping)][:1]
        try:
            kept = set(destination.transform(dict(sample[0]))) if sample else set()
        except Exception:
            kept = set()
        columns = [c for c in columns if c in kept]
    sources = field_sources(destination, columns)
    if not sources:
        return {}
    lineage = dg.TableColumnLineage(
        deps_by_column={
            field: [dg.TableColumnDep(asset_key=upstream, column_name=c) for c in cols]
            for field, cols in sorted(sources.items())
        }
    )
    return {"dagster/column_lineage": lineage}
