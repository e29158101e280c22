"""``aha_dlt_source``: Aha! streams, pivot reports and custom tables as a dlt source.

Records are fetched through :class:`~dagster_aha.client.AhaClient` (pacing, retries, ``fields=``,
concurrency, complete reads), never through dlt's HTTP client. Each record table is merged by
``id``; its cursor (the newest ``updated_at`` per list path, never past the server's clock) is
dlt resource state, committed by dlt only with a successful load. Deletions reach the tables
(see :mod:`dagster_aha.dlt.deletes`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import dlt
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource

from dagster_aha.client import AhaClient, ListReadReport, cap_cursor
from dagster_aha.dlt.deletes import DeletePlanner, read_recycle_bin
from dagster_aha.dlt.landed import DELETED_AT_COLUMN
from dagster_aha.dlt.rows import RowShaper, with_hints
from dagster_aha.resource import AhaResource
from dagster_aha.sources import reading
from dagster_aha.sources.streams import (
    DEFAULT_STREAMS,
    AhaStream,
    FieldsOption,
    custom_table_stream,
    get_stream,
    resolve_fields,
)
from dagster_aha.sources.timestamps import format_ts, parse_ts

__all__ = [
    "DELETED_COLUMN",
    "CustomTable",
    "LandingStats",
    "PivotReport",
    "TableRun",
    "aha_dlt_source",
]

logger = logging.getLogger("dagster_aha.dlt")

#: The hard-delete marker column (dlt ``hard_delete`` hint): always NULL in landed rows.
DELETED_COLUMN = "_aha_deleted"
_BATCH = 200


@dataclass(frozen=True)
class PivotReport:
    """A custom pivot report landed as a table (replaced on every load)."""

    report_id: str
    name: str
    view: Literal["list", "pivot"] = "list"
    value: Literal["plain", "html", "rich", "id"] = "plain"


@dataclass(frozen=True)
class CustomTable:
    """The records of one custom table of one product, merged by ``id``."""

    product_id: str
    table_key: str
    name: str | None = None

    @property
    def table(self) -> str:
        return self.name or f"custom_table_{self.table_key}"


@dataclass
class TableRun:
    """What one load did to one table (read by ``build_aha_dlt_assets`` for its metadata)."""

    table: str
    sync_mode: str = "full"
    rows_loaded: int = 0
    deletes_applied: int = 0
    deletes_unreadable: int = 0
    cursor: str | None = None
    future_records: int = 0
    reconciled: bool = False
    records_restored: int = 0
    warnings: list[str] = field(default_factory=list)


class LandingStats:
    """Per-table :class:`TableRun` of one source run (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tables: dict[str, TableRun] = {}

    def table(self, name: str) -> TableRun:
        with self._lock:
            return self.tables.setdefault(name, TableRun(name))


def _pivot(item: Any) -> PivotReport:
    if isinstance(item, PivotReport):
        return item
    if isinstance(item, Mapping):
        rid = str(item["report_id"])
        return PivotReport(
            rid,
            str(item.get("name") or f"pivot_report_{rid}"),
            item.get("view", "list"),
            item.get("value", "plain"),
        )
    if isinstance(item, (tuple, list)):
        return PivotReport(str(item[0]), str(item[1]))
    return PivotReport(str(item), f"pivot_report_{item}")


def _custom_table(item: Any) -> CustomTable:
    if isinstance(item, CustomTable):
        return item
    if isinstance(item, Mapping):
        return CustomTable(str(item["product_id"]), str(item["table_key"]), item.get("name"))
    return CustomTable(str(item[0]), str(item[1]), item[2] if len(item) > 2 else None)


class _Run:
    """Shared by the resources of one source: the client, the recycle bin, the options."""

    def __init__(
        self,
        aha: AhaResource | AhaClient | Callable[[], AhaClient],
        *,
        lookback: timedelta,
        deletes: Literal["hard", "soft"],
        deletions_feed: bool,
        reconcile_every: timedelta | None,
        full_refresh: bool,
        stats: LandingStats,
    ) -> None:
        self.aha = aha
        self.lookback = lookback
        self.deletes = deletes
        self.deletions_feed = deletions_feed
        self.reconcile_every = reconcile_every
        self.full_refresh = full_refresh
        self.stats = stats
        self._lock = threading.RLock()
        self._client: AhaClient | None = None
        self._bin: Any = None
        self._product_ids: list[str] | None = None

    def client(self) -> AhaClient:
        with self._lock:
            if self._client is None:
                aha = self.aha
                if isinstance(aha, AhaClient):
                    self._client = aha
                elif isinstance(aha, AhaResource):
                    self._client = aha.get_client()
                else:
                    self._client = aha()
            return self._client

    def recycle_bin(self) -> Any:
        with self._lock:
            if self._bin is None:
                self._bin = read_recycle_bin(self.client())
            return self._bin

    def paths(self, stream: AhaStream) -> list[str]:
        if stream.account_path is not None:
            return [stream.account_path]
        with self._lock:
            if self._product_ids is None:
                self._product_ids = [
                    str(p["id"])
                    for p in self.client().iter_records(
                        "products", fields=["id"], record_key="products"
                    )
                    if p.get("id") is not None
                ]
            ids = list(self._product_ids)
        return [stream.product_path(pid) for pid in ids]


def _record_rows(
    run: _Run, stream: AhaStream, fields: tuple[str, ...], table: str
) -> Iterator[Any]:
    """The resource body of one record stream: rows, then the deletes."""
    state = dlt.current.resource_state()
    cursors: dict[str, str] = state.setdefault("cursors", {})
    # page counts of the last full read per list path: the next full read (a new process)
    # starts pages 2..k together with page 1 instead of waiting one round trip for page 1
    page_counts: dict[str, int] = state.setdefault("page_counts", {})
    stats = run.stats.table(table)
    client = run.client()
    shaper = RowShaper()
    alive: set[str] = set()
    all_full = True
    modes: set[str] = set()
    for path in run.paths(stream):
        previous = parse_ts(cursors.get(path)) if stream.supports_updated_since else None
        if run.full_refresh:
            previous = None
        since = previous - run.lookback if previous is not None else None
        modes.add("incremental" if since is not None else "full")
        all_full = all_full and since is None
        report = ListReadReport()
        newest: datetime | None = None
        undated = 0
        rows_read = 0
        batch: list[dict[str, Any]] = []
        hints: list[dict[str, Any]] = []
        expected = page_counts.get(path) if since is None else None
        for record in reading.iter_path(
            client,
            stream,
            path,
            fields=fields,
            since=since,
            report=report,
            expected_pages=expected if isinstance(expected, int) else None,
        ):
            rows_read += 1
            stamp = parse_ts(record.get(stream.cursor_field))
            if stamp is None:
                undated += 1
            elif newest is None or stamp > newest:
                newest = stamp
            row, new_hints = shaper.shape(record)
            if "id" in row:
                alive.add(str(row["id"]))
            batch.append(row)
            hints.extend(new_hints)
            if len(batch) >= _BATCH:
                yield with_hints(batch, hints)
                batch, hints = [], []
        if batch or hints:
            yield with_hints(batch, hints)
        stats.rows_loaded += rows_read
        # the read of this path is complete (iter_records raises otherwise)
        if since is None and report.total_pages:
            page_counts[path] = int(report.total_pages)
        if not stream.supports_updated_since:
            continue
        if undated:
            message = (
                f"{path}: {undated} record(s) came back without {stream.cursor_field} (the "
                "list ignored fields=?): no cursor is kept, the next read of this list is full"
            )
            logger.warning(message)
            stats.warnings.append(message)
            cursors.pop(path, None)
            continue
        cursor, future = cap_cursor(newest, report.server_time)
        if future:
            stats.future_records += 1
            message = (
                f"{path}: a record is dated {format_ts(newest) if newest else '?'}, after the "
                f"server's clock; it is landed, the cursor stops at {format_ts(cursor or newest)}"
                if newest
                else f"{path}: a record is dated in the future"
            )
            logger.warning(message)
            stats.warnings.append(message)
        if cursor is None or (previous is not None and previous > cursor):
            cursor = previous
        if cursor is not None:
            cursors[path] = format_ts(cursor)
    stats.sync_mode = "incremental" if modes == {"incremental"} else "full"
    if cursors:
        stats.cursor = max(cursors.values())
    planner = DeletePlanner(
        run, stream, table, state, alive=alive, full_read=all_full, fields=fields
    )
    yield from planner.apply(stats)


def _record_resource(
    run: _Run, stream: AhaStream, fields: tuple[str, ...], table: str
) -> DltResource:
    columns: dict[str, Any] = {
        "id": {"data_type": "text", "nullable": False, "primary_key": True},
        stream.cursor_field: {"data_type": "timestamp", "nullable": True, "dedup_sort": "desc"},
    }
    if run.deletes == "soft":
        columns[DELETED_AT_COLUMN] = {"data_type": "timestamp", "nullable": True}
    else:
        columns[DELETED_COLUMN] = {"data_type": "bool", "nullable": True, "hard_delete": True}

    def rows() -> Iterator[Any]:
        yield from _record_rows(run, stream, fields, table)

    return dlt.resource(
        rows,
        name=table,
        primary_key="id",
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        columns=columns,
    )


def _pivot_resource(run: _Run, report: PivotReport) -> DltResource:
    def rows() -> Iterator[Any]:
        parsed = run.client().get_pivot_report(report.report_id, view=report.view)
        out = parsed.to_rows(report.value)
        run.stats.table(report.name).rows_loaded = len(out)
        shaper = RowShaper()
        batch: list[dict[str, Any]] = []
        hints: list[dict[str, Any]] = []
        for record in out:
            row, new_hints = shaper.shape(record)
            batch.append(row)
            hints.extend(new_hints)
        yield with_hints(batch, hints)

    return dlt.resource(rows, name=report.name, write_disposition="replace")


def aha_dlt_source(
    aha: AhaResource | AhaClient | Callable[[], AhaClient],
    *,
    streams: Sequence[str] = DEFAULT_STREAMS,
    pivot_reports: Sequence[PivotReport | Mapping[str, Any] | str | int] = (),
    custom_tables: Sequence[CustomTable | Mapping[str, Any] | tuple[str, ...]] = (),
    fields: FieldsOption = None,
    lookback: timedelta = timedelta(minutes=5),
    deletes: Literal["hard", "soft"] = "hard",
    deletions_feed: bool = True,
    reconcile_every: timedelta | None = timedelta(days=1),
    full_refresh: bool = False,
    name: str = "aha",
    stats: LandingStats | None = None,
) -> DltSource:
    """A dlt source of Aha! records: one resource (table) per stream, report and custom table.

    Args:
        aha: an ``AhaResource`` or an ``AhaClient`` (or a function returning a client); the
            client is only created (and the API only called) when the pipeline extracts.
        streams: record streams (``dagster_aha.sources.streams.STREAMS``), each merged by
            ``id`` (``write_disposition="merge"``), read incrementally on ``updated_at`` where
            Aha! supports ``updated_since``.
        pivot_reports: custom pivot reports: report ids, ``PivotReport`` or mappings
            ``{report_id, name, view, value}``; each table is replaced on every load.
        custom_tables: ``CustomTable(product_id, table_key, name=None)`` (or mappings /
            tuples): custom table records, merged by ``id``.
        fields: ``fields=`` per stream (see ``build_aha_assets``).
        lookback: overlap subtracted from the cursor on each incremental read.
        deletes: ``"hard"`` removes deleted records' rows; ``"soft"`` keeps them and sets
            ``_aha_deleted_at`` (SQL destinations).
        deletions_feed: read the recycle bin (``GET deletions``) on every load.
        reconcile_every: how often to list every id (``fields=id``, 200 per request) and
            delete the rows Aha! no longer lists; ``timedelta(0)`` on every load, ``None``
            never. Full reads always reconcile.
        full_refresh: ignore the cursors (read everything; still merged).
        name: the dlt source name (also the default schema name).
        stats: a ``LandingStats`` to fill in (rows, deletes, cursor per table).
    """
    if isinstance(streams, str):
        raise TypeError("streams must be a sequence of stream names, not a string")
    if deletes not in ("hard", "soft"):
        raise ValueError(f'deletes must be "hard" or "soft", got {deletes!r}')
    if lookback < timedelta(0):
        raise ValueError("lookback must not be negative")
    run = _Run(
        aha,
        lookback=lookback,
        deletes=deletes,
        deletions_feed=deletions_feed,
        reconcile_every=reconcile_every,
        full_refresh=full_refresh,
        stats=stats if stats is not None else LandingStats(),
    )
    resources: list[DltResource] = []
    for stream_name in streams:
        stream = get_stream(stream_name)
        resources.append(_record_resource(run, stream, resolve_fields(stream, fields), stream.name))
    for item in custom_tables:
        table = _custom_table(item)
        stream = custom_table_stream(table.product_id, table.table_key, name=table.table)
        resources.append(_record_resource(run, stream, resolve_fields(stream, None), table.table))
    for item in pivot_reports:
        resources.append(_pivot_resource(run, _pivot(item)))
    names = [r.name for r in resources]
    if len(set(names)) != len(names):
        raise ValueError(f"Two Aha! tables have the same name: {names}")

    def _resources() -> list[DltResource]:
        return resources

    return dlt.source(name=name, max_table_nesting=0, root_key=False)(_resources)()
