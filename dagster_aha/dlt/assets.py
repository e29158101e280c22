"""``build_aha_dlt_assets``: Aha! tables landed by dlt, as Dagster assets (``dlt_assets``).

One asset per table, keyed ``key_prefix + [table]`` (``aha/features``), kinds ``aha``, ``dlt``
and the destination. Each materialization says what the load did: ``aha/rows_loaded`` (records
read and merged this run), ``dagster/row_count`` (rows in the table after the merge),
``aha/deletes_applied``, ``aha/cursor``, ``aha/sync_mode``, ``aha/records_restored`` (when the id
reconciliation landed records the table lacked), and dlt's column schema. The asset
value is the landed table itself: nothing is pickled.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
)
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from dagster_aha.client import AhaClient
from dagster_aha.dlt.landed import row_count
from dagster_aha.dlt.landing import AhaLanding
from dagster_aha.dlt.source import CustomTable, LandingStats, PivotReport, aha_dlt_source
from dagster_aha.resource import AhaResource
from dagster_aha.sources.streams import DEFAULT_STREAMS, STREAMS, FieldsOption

__all__ = ["AhaLandingRunConfig", "DagsterAhaDltTranslator", "build_aha_dlt_assets"]


class AhaLandingRunConfig(Config):
    """Run config of landed Aha! assets: ``full_refresh: true`` ignores the cursors (the
    tables are still merged, and a full read also removes what Aha! no longer has)."""

    full_refresh: bool = False


class DagsterAhaDltTranslator(DagsterDltTranslator):
    """Asset keys ``key_prefix + [table]``, kinds ``aha`` + ``dlt`` + the destination; a
    stream's table carries ``aha/stream`` (so ``build_aha_change_sensor`` can target it)."""

    def __init__(
        self, *, key_prefix: Sequence[str] = ("aha",), group_name: str | None = "aha"
    ) -> None:
        self.key_prefix = tuple(key_prefix)
        self.group_name = group_name

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        destination = data.destination.destination_name if data.destination else None
        kinds = {"aha", "dlt", *([destination] if destination else [])}
        name = data.resource.name
        if name in STREAMS:
            spec = spec.merge_attributes(metadata={"aha/stream": name})
        return spec.replace_attributes(
            key=AssetKey([*self.key_prefix, data.resource.name]),
            deps=[],
            group_name=self.group_name,
            kinds=kinds,
            description=f"Aha! {data.resource.name}, landed by dlt"
            + (f" in {destination}" if destination else "")
            + " (merged by id, deletes applied).",
        )


def _definition_time_client() -> AhaClient:
    raise RuntimeError("the Aha! client is only created when a run extracts")


def build_aha_dlt_assets(
    *,
    streams: Sequence[str] = DEFAULT_STREAMS,
    pivot_reports: Sequence[PivotReport | Mapping[str, Any] | str | int] = (),
    custom_tables: Sequence[CustomTable | Mapping[str, Any] | tuple[str, ...]] = (),
    landing: AhaLanding | None = None,
    resource_key: str = "aha",
    key_prefix: Sequence[str] = ("aha",),
    group_name: str | None = "aha",
    fields: FieldsOption = None,
    lookback: timedelta = timedelta(minutes=5),
    deletes: Literal["hard", "soft"] = "hard",
    deletions_feed: bool = True,
    reconcile_every: timedelta | None = timedelta(days=1),
    translator: DagsterAhaDltTranslator | None = None,
    pool: str | None = "aha",
    name: str | None = None,
) -> list[AssetsDefinition]:
    """Assets that land Aha! records in a dlt destination (default: an embedded DuckDB file).

    ``streams``, ``pivot_reports``, ``custom_tables``, ``fields``, ``lookback``, ``deletes``,
    ``deletions_feed`` and ``reconcile_every`` are those of
    :func:`~dagster_aha.dlt.aha_dlt_source`; ``landing`` (an :class:`AhaLanding`) names the
    destination, dataset and pipeline. The ``AhaResource`` is read from ``resource_key`` when a
    run starts; definitions load without any API call or credential.
    """
    landing = landing or AhaLanding()
    translator = translator or DagsterAhaDltTranslator(key_prefix=key_prefix, group_name=group_name)
    options: dict[str, Any] = dict(
        streams=streams,
        pivot_reports=pivot_reports,
        custom_tables=custom_tables,
        fields=fields,
        lookback=lookback,
        deletes=deletes,
        deletions_feed=deletions_feed,
        reconcile_every=reconcile_every,
    )
    spec_source = aha_dlt_source(_definition_time_client, **options)
    op_name = name or "_".join([*key_prefix, "dlt"]).replace("-", "_")

    def _land(context: AssetExecutionContext, config: AhaLandingRunConfig, **resources: Any):
        aha = resources.get(resource_key) or getattr(context.resources, resource_key)
        stats = LandingStats()
        source = aha_dlt_source(aha, full_refresh=config.full_refresh, stats=stats, **options)
        pipeline = landing.pipeline()
        file_format = landing.loader_file_format
        with landing.settings():  # bounded buffers (see AhaLanding)
            results = DagsterDltResource().run(
                context=context,
                dlt_source=source,
                dlt_pipeline=pipeline,
                dagster_dlt_translator=translator,
                **({"loader_file_format": file_format} if file_format else {}),
            )
            yield from _with_landing_metadata(context, results, stats, pipeline, deletes)

    _land.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter(
                "config", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=AhaLandingRunConfig
            ),
            inspect.Parameter(resource_key, inspect.Parameter.KEYWORD_ONLY, annotation=AhaResource),
        ]
    )
    decorator = dlt_assets(
        dlt_source=spec_source,
        dlt_pipeline=landing.spec_pipeline(),
        name=op_name,
        dagster_dlt_translator=translator,
        pool=pool,
    )
    return [decorator(_land)]


def _with_landing_metadata(
    context: AssetExecutionContext,
    results: Iterator[Any],
    stats: LandingStats,
    pipeline: Any,
    deletes: str,
) -> Iterator[MaterializeResult]:
    for result in results:
        if not isinstance(result, MaterializeResult) or result.asset_key is None:
            yield result
            continue
        table = result.asset_key.path[-1]
        run = stats.tables.get(table)
        rows = row_count(pipeline, table, live_only=deletes == "soft")
        extra: dict[str, Any] = {"aha/value": "landed table (merged by id)"}
        if rows is not None:
            extra["dagster/row_count"] = MetadataValue.int(rows)
        if run is not None:
            extra.update(
                {
                    "aha/rows_loaded": MetadataValue.int(run.rows_loaded),
                    "aha/deletes_applied": MetadataValue.int(run.deletes_applied),
                    "aha/sync_mode": run.sync_mode,
                    "aha/cursor": run.cursor or "",
                    "aha/reconciled": run.reconciled,
                }
            )
            if run.records_restored:
                extra["aha/records_restored"] = MetadataValue.int(run.records_restored)
            if run.deletes_unreadable:
                extra["aha/deletions_unreadable"] = MetadataValue.int(run.deletes_unreadable)
            if run.warnings:
                extra["aha/warnings"] = MetadataValue.md("\n".join(f"* {w}" for w in run.warnings))
        context.log.info(
            f"{table}: {run.rows_loaded if run else '?'} loaded, "
            f"{run.deletes_applied if run else 0} deleted, {rows} rows in the table"
        )
        yield MaterializeResult(
            asset_key=result.asset_key,
            metadata={**(result.metadata or {}), **extra},
            check_results=result.check_results,
            data_version=result.data_version,
            tags=result.tags,
        )
