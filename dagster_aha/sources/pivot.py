"""Assets for Aha! custom pivot reports (``bookmarks/custom_pivots/:report_id``)."""

import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from dagster import (
    AssetExecutionContext,
    AssetOut,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    multi_asset,
)

# Not re-exported at the top level of dagster 1.13; the documented metadata-set classes.
from dagster._core.definitions.metadata import TableMetadataSet

from dagster_aha.client import PivotListReport, quote_segment
from dagster_aha.sources.assets import _get_client, _op_name
from dagster_aha.sources.metadata import AhaMetadataSet, infer_column_schema, markdown_preview
from dagster_aha.sources.translator import AhaAssetProps, DagsterAhaTranslator

__all__ = ["aha_pivot_report_asset"]

PivotView = Literal["list", "pivot"]
PivotValue = Literal["plain", "html", "rich", "id"]


def _list_view_schema(report: PivotListReport, rows: Sequence[dict[str, Any]]) -> TableSchema:
    """Columns named by the report's titles, described by ``table.field``, typed from rows."""
    inferred = {c.name: c for c in infer_column_schema(rows).columns}
    columns = []
    for title, column in zip(report.column_names(), report.columns, strict=False):
        source = ".".join(p for p in (column.table, column.field) if p)
        found = inferred.get(title)
        columns.append(
            TableColumn(
                name=title,
                type=found.type if found is not None else "null",
                description=source or None,
                constraints=found.constraints if found is not None else None,
            )
        )
    return TableSchema(columns=columns)


def aha_pivot_report_asset(
    report_id: str | int,
    *,
    name: str,
    view: PivotView = "list",
    value: PivotValue = "plain",
    resource_key: str = "aha",
    key_prefix: Sequence[str] = ("aha",),
    group_name: str | None = "aha",
    pool: str | None = "aha",
    translator: DagsterAhaTranslator | None = None,
    description: str | None = None,
) -> AssetsDefinition:
    """An asset holding the rows of one Aha! custom pivot report.

    ``view="list"`` gives one row per report row keyed by column title (every page is read);
    ``view="pivot"`` gives the flattened rows of the pivot view (one request, no pagination).
    ``value`` picks the cell value: ``plain``, ``html``, ``rich`` or ``id``. The asset key is
    ``key_prefix + [name]``; ``dagster/column_schema`` lists the report's column titles.
    """
    if view not in ("list", "pivot"):
        raise ValueError(f"view must be 'list' or 'pivot', got {view!r}")
    if value not in ("plain", "html", "rich", "id"):
        raise ValueError(f"value must be one of plain, html, rich, id; got {value!r}")
    if not str(report_id).strip():
        raise ValueError("report_id must not be empty")
    if not name:
        raise ValueError("name must not be empty")
    translator = translator or DagsterAhaTranslator()
    props = AhaAssetProps(
        name=name,
        kind="pivot_report",
        key_prefix=tuple(key_prefix),
        group_name=group_name,
        description=description or f"Aha! custom pivot report {report_id} ({view} view).",
        list_path=f"bookmarks/custom_pivots/{quote_segment(report_id)}",
        report_id=str(report_id),
        view=view,
        value=value,
    )
    spec = translator.get_asset_spec(props)
    output_name = _op_name(name)
    key = spec.key

    @multi_asset(
        name=_op_name(*key_prefix, name),
        outs={output_name: AssetOut.from_spec(spec, dagster_type=list)},
        required_resource_keys={resource_key},
        pool=pool,
    )
    def _aha_pivot(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
        client = _get_client(context, resource_key)
        before = client.stats
        started = time.monotonic()
        report = client.get_pivot_report(report_id, view=view)
        rows = report.to_rows(value=value)
        duration = time.monotonic() - started
        after = client.stats
        if isinstance(report, PivotListReport):
            schema = _list_view_schema(report, rows)
        else:
            schema = infer_column_schema(rows)
        context.log.info(
            f"{key.to_user_string()}: {len(rows)} rows from pivot report {report_id} "
            f"({view} view) in {duration:.2f}s"
        )
        yield MaterializeResult(
            asset_key=key,
            value=rows,
            metadata={
                **TableMetadataSet(row_count=len(rows), column_schema=schema),
                **AhaMetadataSet(
                    sync_mode="full",
                    requests=after.requests - before.requests,
                    pages=after.pages - before.pages,
                    duration_s=round(duration, 3),
                    records_per_s=round(len(rows) / duration, 1) if duration > 0 else 0.0,
                ),
                "aha/preview": markdown_preview(rows),
                "aha/account_url": MetadataValue.url(client.account_url),
                "aha/report_url": MetadataValue.url(
                    f"{client.account_url}/bookmarks/custom_pivots/{quote_segment(report_id)}"
                ),
            },
        )

    return _aha_pivot
