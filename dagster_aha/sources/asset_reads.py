"""How a record asset reads: one stream (or product), its cursor, its materialization metadata.

Used by the asset factories in :mod:`dagster_aha.sources.assets`: the previous ``aha/cursor``
and ``aha/page_counts`` from the instance, the read (JSON-native as it streams in,
de-duplicated by ``id``), the next cursor (never past the server's clock) and the
``MaterializeResult`` metadata.

``aha/page_counts`` is the page count of each list path of more than one page in the latest
full read, kept with the cursor: the next full read of the path starts pages 2..k together
with page 1 instead of waiting one round trip for page 1's ``total_pages`` (in a new run
process, where nothing else is kept without a budget store). A count that has gone stale
costs at most the speculative pages beyond the end (see :mod:`dagster_aha.client.prefetch`);
the records are the same.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from dagster import AssetExecutionContext, AssetKey, AssetRecordsFilter, MetadataValue

# Not re-exported at the top level of dagster 1.13; the documented metadata-set classes.
from dagster._core.definitions.metadata import TableMetadataSet

from dagster_aha.client import AhaClient, ListReadReport, PageInfo, cap_cursor
from dagster_aha.sources.metadata import (
    AhaMetadataSet,
    infer_column_schema,
    json_native_in_place,
    markdown_preview,
)
from dagster_aha.sources.reading import iter_path, list_paths
from dagster_aha.sources.streams import AhaStream
from dagster_aha.sources.timestamps import format_ts, max_updated_at, parse_ts

#: A progress log line every this many pages (and on the first and the last).
LOG_EVERY_PAGES = 5


@dataclass(frozen=True)
class PreviousRead:
    """What the latest materialization of an asset (partition) kept for the next read."""

    cursor: datetime | None = None
    page_counts: Mapping[str, int] = field(default_factory=dict)
    """Page count of each list path in the latest full read (``aha/page_counts``)."""


def _page_counts(value: Any) -> dict[str, int]:
    """``aha/page_counts`` as written by :func:`materialization_metadata` (else nothing)."""
    if not isinstance(value, Mapping):
        return {}
    return {
        str(path): int(n)
        for path, n in value.items()
        if isinstance(n, int) and not isinstance(n, bool) and n >= 1
    }


def previous_read(
    context: AssetExecutionContext, key: AssetKey, partition_key: str | None
) -> PreviousRead:
    """The ``aha/cursor`` and ``aha/page_counts`` of the latest materialization of ``key``
    (and partition)."""
    records_filter = AssetRecordsFilter(
        asset_key=key, asset_partitions=[partition_key] if partition_key is not None else None
    )
    result = context.instance.fetch_materializations(records_filter, limit=1)
    for record in result.records:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        cursor = materialization.metadata.get("aha/cursor")
        counts = materialization.metadata.get("aha/page_counts")
        return PreviousRead(
            cursor=parse_ts(cursor.value) if cursor is not None else None,
            page_counts=_page_counts(counts.value) if counts is not None else {},
        )
    return PreviousRead()


@dataclass
class ReadOutcome:
    """What one asset's read produced: its rows, cursor and request figures."""

    rows: list[dict[str, Any]]
    sync_mode: Literal["incremental", "full"]
    cursor: datetime | None
    updated_since: str | None
    requests: int
    pages: int
    duration_s: float
    delta: bool = False  # the value holds only the records changed since the cursor
    page_counts: Mapping[str, int] = field(default_factory=dict)
    """Kept for the next full read: this read's page counts (a full read), else the previous."""


class ReadProgress:
    """``on_page`` callback: a log line every few pages (and on the last one)."""

    def __init__(self, context: AssetExecutionContext, label: str, every: int) -> None:
        self.context = context
        self.label = label
        self.every = max(1, every)
        self.started = time.monotonic()
        self.done_before = 0  # records of the paths already finished
        self.path = ""

    def start_path(self, path: str, done_before: int) -> None:
        self.path = path
        self.done_before = done_before

    def __call__(self, info: PageInfo) -> None:
        last = info.total_pages is not None and info.page >= info.total_pages
        if info.page % self.every and not last and info.page != 1:
            return
        total = self.done_before + info.records_so_far
        elapsed = max(time.monotonic() - self.started, 1e-9)
        if info.total_pages is not None and info.total_pages < info.page:
            # an empty result (e.g. nothing updated since the cursor) reports 0 pages
            self.context.log.info(
                f"{self.label}: {self.path} has no records to read "
                f"({total} records in total so far)"
            )
            return
        of = f"/{info.total_pages}" if info.total_pages is not None else ""
        self.context.log.info(
            f"{self.label}: {self.path} page {info.page}{of}, {total} records so far, "
            f"{total / elapsed:.1f} records/s"
        )


def stats_counts(client: AhaClient) -> tuple[int, int]:
    stats = client.stats
    return int(stats.requests), int(stats.pages)


def read_stream(
    context: AssetExecutionContext,
    client: AhaClient,
    stream: AhaStream,
    *,
    label: str,
    fields: Sequence[str],
    product: str | None,
    since: datetime | None,
    product_ids: list[str] | None,
    reports: list[ListReadReport],
    expected_pages: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Read every list page of ``stream`` (for one product when ``product`` is set).

    The paths and shapes are :func:`~dagster_aha.sources.reading.iter_stream`'s (its
    ``list_paths`` and ``iter_path``, one :class:`ListReadReport` per path in ``reports``); a
    stream without an account-wide list (releases) is read over ``product_ids`` when the caller
    already has them (a full products read in the same step). Records are made JSON-native as
    they stream in and de-duplicated by ``id`` (the newest ``cursor_field`` wins).
    ``expected_pages`` (path -> the previous read's page count) lets a path's pages 2..k start
    with page 1.
    """
    progress = ReadProgress(context, label, LOG_EVERY_PAGES)
    by_id: dict[str, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []

    def on_path(path: str) -> None:
        progress.start_path(path, len(by_id) + len(anonymous))

    for path in list_paths(client, stream, product=product, product_ids=product_ids):
        on_path(path)
        report = ListReadReport(path=path)
        reports.append(report)
        expected = (expected_pages or {}).get(path)
        for record in iter_path(
            client,
            stream,
            path,
            fields=fields,
            since=since,
            on_page=progress,
            report=report,
            expected_pages=expected,
        ):
            json_native_in_place(record)  # converted as it streams in: no second copy
            rid = record.get("id")
            if rid is None:
                anonymous.append(record)
                continue
            previous = by_id.get(str(rid))
            if previous is not None:
                old = parse_ts(previous.get(stream.cursor_field))
                new = parse_ts(record.get(stream.cursor_field))
                if old is not None and new is not None and new < old:
                    continue
            by_id[str(rid)] = record
    return [*by_id.values(), *anonymous]


def read_with_cursor(
    context: AssetExecutionContext,
    client: AhaClient,
    stream: AhaStream,
    *,
    key: AssetKey,
    label: str,
    fields: Sequence[str],
    product: str | None,
    incremental: bool,
    lookback: timedelta,
    full_refresh: bool,
    product_ids: list[str] | None = None,
) -> ReadOutcome:
    partition_key = context.partition_key if context.has_partition_key else None
    use_cursor = incremental and stream.supports_updated_since
    kept = previous_read(context, key, partition_key)
    previous = kept.cursor if use_cursor else None
    since = previous - lookback if previous is not None and not full_refresh else None
    before_requests, before_pages = stats_counts(client)
    started = time.monotonic()
    reports: list[ListReadReport] = []
    rows = read_stream(
        context,
        client,
        stream,
        label=label,
        fields=fields,
        product=product,
        since=since,
        product_ids=product_ids,
        reports=reports,
        # a delta's page counts are not the full list's: only a full read uses and keeps them
        expected_pages=kept.page_counts if since is None else None,
    )
    duration = time.monotonic() - started
    after_requests, after_pages = stats_counts(client)
    cursor = next_cursor(
        context, label, stream, rows, reports, previous if since is not None else None
    )
    return ReadOutcome(
        rows=rows,
        sync_mode="incremental" if since is not None else "full",
        delta=since is not None,
        cursor=cursor,
        updated_since=format_ts(since) if since is not None else None,
        requests=after_requests - before_requests,
        pages=after_pages - before_pages,
        duration_s=duration,
        # lists of one page are left out (nothing to start early): a partition's releases
        # over many products keep only the products with more than a page
        page_counts=(
            {r.path: r.total_pages for r in reports if r.total_pages and r.total_pages > 1}
            if since is None
            else kept.page_counts
        ),
    )


def next_cursor(
    context: AssetExecutionContext,
    label: str,
    stream: AhaStream,
    rows: Sequence[Mapping[str, Any]],
    reports: Sequence[ListReadReport],
    previous: datetime | None,
) -> datetime | None:
    """The cursor after a complete read: the newest ``stream.cursor_field``, never past the
    server's clock. An incremental stream whose records came back without it (the list ignored
    ``fields=``) keeps no cursor at all: the next read is full."""
    field = stream.cursor_field
    if stream.supports_updated_since:
        undated = sum(1 for r in rows if parse_ts(r.get(field)) is None)
        if undated:
            context.log.warning(
                f"{label}: {undated} record(s) without {field} (the list ignored fields=?): "
                "no cursor is kept, the next read is full"
            )
            return None
    times = [r.server_time for r in reports if r.server_time is not None]
    cursor, future = cap_cursor(max_updated_at(rows, field), max(times) if times else None)
    if future:
        context.log.warning(
            f"{label}: a record is dated after the server's clock; the cursor stops at "
            f"{format_ts(cursor) if cursor else '?'}"
        )
    if previous is not None and (cursor is None or previous > cursor):
        cursor = previous
    return cursor


def materialization_metadata(
    client: AhaClient, outcome: ReadOutcome, *, partitioned: bool
) -> dict[str, Any]:
    rows = outcome.rows
    table = TableMetadataSet(
        row_count=len(rows),
        partition_row_count=len(rows) if partitioned else None,
        column_schema=infer_column_schema(rows),
    )
    aha = AhaMetadataSet(
        sync_mode=outcome.sync_mode,
        cursor=format_ts(outcome.cursor) if outcome.cursor is not None else None,
        updated_since=outcome.updated_since,
        requests=outcome.requests,
        pages=outcome.pages,
        duration_s=round(outcome.duration_s, 3),
        records_per_s=round(len(rows) / outcome.duration_s, 1) if outcome.duration_s > 0 else 0.0,
    )
    return {
        **table,
        **aha,
        "aha/value": (
            "delta: only the records changed since the previous cursor (incremental=True)"
            if outcome.delta
            else "full: every record of the stream"
        ),
        "aha/preview": markdown_preview(rows),
        **(
            {"aha/page_counts": MetadataValue.json(dict(outcome.page_counts))}
            if outcome.page_counts
            else {}
        ),
        "aha/account_url": MetadataValue.url(client.account_url),
    }
