"""The component's ``landing:``: its streams and pivot reports as dlt-landed tables.

Imported only when a component has ``landing:`` (it needs the extra ``dagster-aha[dlt]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster.components.utils.translation import TranslationFn

from dagster_aha.dlt import AhaLanding, DagsterAhaDltTranslator, PivotReport, build_aha_dlt_assets
from dagster_aha.dlt.deletes import reconcile_period
from dagster_aha.sources import AhaAssetProps

if TYPE_CHECKING:
    from dagster_aha.components.aha_component import AhaComponent, AhaLandingModel

__all__ = ["landed_assets"]


def _translator(
    fn: TranslationFn[AhaAssetProps], key_prefix: Sequence[str], group_name: str | None
) -> DagsterAhaDltTranslator:
    """The landed assets' translator with the component's ``translation`` applied on top
    (``kind`` is ``"records"`` for record tables, ``"pivot_report"`` for reports)."""

    class _Translating(DagsterAhaDltTranslator):
        def get_asset_spec(self, data: Any) -> dg.AssetSpec:
            spec = super().get_asset_spec(data)
            kind = "pivot_report" if data.resource.write_disposition == "replace" else "records"
            props = AhaAssetProps(
                name=data.resource.name,
                kind=kind,
                key_prefix=tuple(key_prefix),
                group_name=group_name,
                description=spec.description,
            )
            return fn(spec, props)

    return _Translating(key_prefix=key_prefix, group_name=group_name)


def landed_assets(component: AhaComponent, landing: AhaLandingModel) -> list[Any]:
    """``build_aha_dlt_assets`` for the component's streams and pivot reports."""
    translator = None
    if component.translation is not None:
        translator = _translator(component.translation, component.key_prefix, component.group_name)
    return build_aha_dlt_assets(
        translator=translator,
        streams=component.streams,
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
