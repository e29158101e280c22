"""The component's ``landing:``: its streams and pivot reports as dlt-landed tables.

Imported only when a component has ``landing:`` (it needs the extra ``dagster-aha[dlt]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.definitions.metadata import TableMetadataSet

from dagster_aha.dlt import (
    AhaLanding,
    CustomTable,
    DagsterAhaDltTranslator,
    PivotReport,
    build_aha_dlt_assets,
)
from dagster_aha.dlt.deletes import reconcile_period
from dagster_aha.sources import AhaAssetProps
from dagster_aha.sources.streams import STREAMS, get_stream, resolve_fields

if TYPE_CHECKING:
    from dagster_aha.components.aha_component import AhaComponent
    from dagster_aha.components.models import AhaLandingModel

__all__ = ["landed_assets"]


def _translator(component: AhaComponent, tables: Sequence[Any]) -> DagsterAhaDltTranslator:
    """Landed specs with what the component adds to every spec: the typed column schema of
    its state, then its ``translation``."""
    by_table = {t.name: t for t in tables}
    reports = {r.name: r for r in component.pivot_reports}

    def props_for(name: str, description: str | None) -> AhaAssetProps:
        common: dict[str, Any] = {
            "name": name,
            "key_prefix": tuple(component.key_prefix),
            "group_name": component.group_name,
            "description": description,
        }
        if name in reports:
            report = reports[name]
            return AhaAssetProps(
                kind="pivot_report", report_id=str(report.report_id), view=report.view, **common
            )
        if name in by_table:
            table = by_table[name]
            return AhaAssetProps(
                kind="custom_table",
                product_id=table.product_id,
                table_key=table.table_key,
                **common,
            )
        fields = resolve_fields(get_stream(name), component.fields) if name in STREAMS else ()
        return AhaAssetProps(kind="records", fields=fields, incremental=True, **common)

    class _Translating(DagsterAhaDltTranslator):
        def get_asset_spec(self, data: Any) -> dg.AssetSpec:
            spec = super().get_asset_spec(data)
            props = props_for(data.resource.name, spec.description)
            schema = component._column_schema(props)
            if schema is not None:
                spec = spec.merge_attributes(metadata=dict(TableMetadataSet(column_schema=schema)))
            fn = component.translation
            return fn(spec, props) if fn is not None else spec

    return _Translating(key_prefix=component.key_prefix, group_name=component.group_name)


def landed_assets(
    component: AhaComponent, landing: AhaLandingModel, tables: Sequence[Any] = ()
) -> list[Any]:
    """``build_aha_dlt_assets`` for the component's streams, custom tables (``tables``: the
    selection from the state, with ``product_id``, ``table_key`` and ``name``) and reports."""
    if not (component.streams or component.pivot_reports or tables):
        return []
    return build_aha_dlt_assets(
        translator=_translator(component, tables),
        streams=component.streams,
        custom_tables=[CustomTable(t.product_id, t.table_key, t.name) for t in tables],
        pivot_reports=[
            PivotReport(str(r.report_id), r.name, r.view, r.value) for r in component.pivot_reports
        ],
        landing=AhaLanding(
            destination=landing.destination,
            dataset=landing.dataset,
            pipeline_name=landing.pipeline_name,
            credentials=landing.credentials,
            pipelines_dir=landing.pipelines_dir,
            options=landing.options,
            buffer_max_items=landing.buffer_max_items,
            duckdb_memory_limit=landing.duckdb_memory_limit,
        ),
        resource_key=component.resource_key,
        key_prefix=component.key_prefix,
        group_name=component.group_name,
        fields=component.fields,
        lookback=timedelta(minutes=component.lookback_minutes),
        deletes=landing.deletes,
        deletions_feed=landing.deletions_feed,
        reconcile_every=reconcile_period(landing.reconcile_every_hours),
        pool=component.pool,
    )
