"""The ``AhaComponent``'s read assets: its streams, the custom tables selected from YAML and
the state, and its pivot reports, plain or landed (``landing:``, :mod:`.landing`).

Built from the stored snapshot only (:class:`AhaAccountState`): nothing calls Aha!.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import dagster as dg

from dagster_aha.components.state_assets import (
    REFRESH_COMMAND,
    product_partition_keys,
    select_custom_tables,
)
from dagster_aha.sources import aha_custom_table_asset, aha_pivot_report_asset, build_aha_assets

if TYPE_CHECKING:
    from dagster_aha.components.account_state import AhaAccountState
    from dagster_aha.components.aha_component import AhaComponent

__all__ = ["component_read_assets"]

_log = dg.get_dagster_logger("dagster_aha")


def component_read_assets(
    component: AhaComponent, state: AhaAccountState | None
) -> list[dg.AssetsDefinition]:
    """The component's read assets: streams, custom tables, pivot reports (from YAML and the
    state); with ``landing:`` the landed ones (:func:`.landing.landed_assets`)."""
    translator = component._translator()
    lookback = timedelta(minutes=component.lookback_minutes)
    assets: list[dg.AssetsDefinition] = []
    partitions = product_partition_keys(component.product_partitions, state)
    if component.product_partitions == "all" and partitions is None:
        _log.warning(
            "AhaComponent: product_partitions: all needs the Aha! state (the product "
            f"list); the streams are unpartitioned until `{REFRESH_COMMAND}` has run."
        )
    requested: Literal["all"] | list[tuple[str | None, str, str | None]] = (
        "all"
        if component.custom_tables == "all"
        else [(t.product_id, t.table_key, t.name) for t in component._custom_table_models()]
    )
    tables, notes = select_custom_tables(requested, component.exclude_custom_tables, state)
    for note in notes:
        _log.warning(f"AhaComponent: {note}")
    if component.landing is not None:
        from dagster_aha.components.landing import landed_assets

        # streams, custom tables and pivot reports as landed (merged / replaced) tables
        assets.extend(landed_assets(component, component.landing, tables))
        return assets
    if component.streams:
        assets.extend(
            build_aha_assets(
                streams=component.streams,
                resource_key=component.resource_key,
                key_prefix=component.key_prefix,
                group_name=component.group_name,
                fields=component.fields,
                incremental=component.incremental,
                lookback=lookback,
                product_partitions=partitions,
                translator=translator,
                pool=component.pool,
            )
        )
    for table in tables:
        table_fields = (
            component.fields.get(table.name) if isinstance(component.fields, dict) else None
        )
        assets.append(
            aha_custom_table_asset(
                table.product_id,
                table.table_key,
                name=table.name,
                resource_key=component.resource_key,
                key_prefix=component.key_prefix,
                group_name=component.group_name,
                fields=table_fields,
                incremental=component.incremental,
                lookback=lookback,
                translator=translator,
                pool=component.pool,
            )
        )
    for report in component.pivot_reports:
        known = state.pivot_report(str(report.report_id)) if state is not None else None
        description = report.description
        if description is None and known is not None and known.title:
            description = (
                f"Aha! custom pivot report {known.title!r} ({report.report_id}, "
                f"{report.view} view)."
            )
        assets.append(
            aha_pivot_report_asset(
                str(report.report_id),
                name=report.name,
                view=report.view,
                value=report.value,
                resource_key=component.resource_key,
                key_prefix=component.key_prefix,
                group_name=component.group_name,
                pool=component.pool,
                translator=translator,
                description=description,
            )
        )
    return assets
