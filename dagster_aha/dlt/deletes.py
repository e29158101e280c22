"""How deleted Aha! records leave (or are marked in) the landed tables, and restored ones
come back.

Three ways a table learns that records are gone, all checked against what is landed:

1. the recycle bin (``GET deletions``), read once per load and shared by the tables;
2. a full read: every landed id the read did not return is gone;
3. the id reconciliation, every ``reconcile_every``: the list is read with ``fields=id``
   (200 ids a request) and every landed id Aha! no longer lists is gone. It catches what the
   bin does not show (deletes older than the bin keeps, records removed with their parent).

An id the same load read alive is never deleted by it. ``deletes="hard"`` yields one
``{"id", "_aha_deleted": True}`` row per deleted id (dlt's ``hard_delete`` hint: the merge
removes the row); ``deletes="soft"`` sets ``_aha_deleted_at`` on the landed row instead (SQL).
An incomplete listing raises (``AhaIncompleteReadError``) before anything is deleted.

The reconciliation also finds the other direction: ids Aha! lists that the table lacks (or
holds soft-deleted). A record restored from Aha!'s recycle bin keeps its old ``updated_at``, so
no incremental read returns it again; when the listing finds such ids, the stream is read once
more in full (with its ``fields=``, like any read: as many requests as the listing) and the
rows of those ids are landed (a soft-deleted row comes back with ``_aha_deleted_at`` NULL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import dlt

from dagster_aha.client import AhaClient
from dagster_aha.dlt.deletions import RecycleBin, parse_deletions
from dagster_aha.dlt.landed import (
    LandedQueryUnsupported,
    all_ids,
    existing_ids,
    soft_delete,
)
from dagster_aha.dlt.rows import RowShaper, with_hints
from dagster_aha.sources import reading
from dagster_aha.sources.streams import AhaStream
from dagster_aha.sources.timestamps import format_ts, parse_ts

if TYPE_CHECKING:
    from dagster_aha.dlt.source import TableRun, _Run

__all__ = ["DeletePlanner", "read_recycle_bin"]

logger = logging.getLogger("dagster_aha.dlt")

DELETIONS_PATH = "deletions"


def read_recycle_bin(client: AhaClient) -> RecycleBin:
    """Every item of the recycle bin (all pages, complete or raising), parsed tolerantly."""
    return parse_deletions(client.iter_records(DELETIONS_PATH, record_key="deletions"))


def _now() -> datetime:
    return datetime.now(timezone.utc)


class DeletePlanner:
    """The deletes of one table in one load (see the module docstring)."""

    def __init__(
        self,
        run: _Run,
        stream: AhaStream,
        table: str,
        state: dict[str, Any],
        *,
        alive: set[str],
        full_read: bool,
        fields: tuple[str, ...] = (),
    ) -> None:
        self.run = run
        self.stream = stream
        self.table = table
        self.state = state
        self.alive = alive
        self.full_read = full_read
        self.fields = fields
        #: ids the reconciliation found listed by Aha! but not (live) in the table
        self.missing: set[str] = set()

    def _reconcile_due(self) -> bool:
        every = self.run.reconcile_every
        if every is None:
            return False
        last = parse_ts(self.state.get("reconciled_at"))
        return last is None or _now() - last >= every

    def _listed_ids(self) -> set[str]:
        client = self.run.client()
        ids: set[str] = set()
        for path in self.run.paths(self.stream):
            for record in client.iter_records(
                path, fields=["id"], per_page=200, record_key=self.stream.record_key
            ):
                if record.get("id") is not None:
                    ids.add(str(record["id"]))
        return ids

    def _gone(self, stats: TableRun, pipeline: dlt.Pipeline) -> dict[str, datetime]:
        live_only = self.run.deletes == "soft"
        gone: dict[str, datetime] = {}
        if self.run.deletions_feed:
            bin_ = self.run.recycle_bin()
            stats.deletes_unreadable = bin_.unreadable
            items = bin_.for_stream(self.stream.name)
            if self.stream.record_key == "custom_object_records":
                items = [d for d in bin_.items if d.stream in (None, "custom_object_records")]
            by_id = {d.record_id: d for d in items if d.record_id}
            by_ref = {d.reference.upper(): d for d in items if d.reference and not d.record_id}
            if by_id or by_ref:
                found = existing_ids(
                    pipeline,
                    self.table,
                    ids=by_id,
                    references=by_ref,
                    live_only=live_only,
                )
                for rid in found:
                    item = by_id.get(rid)
                    gone[rid] = (item.deleted_at if item else None) or _now()
        landed: set[str] | None = None
        if self.full_read:
            landed = all_ids(pipeline, self.table, live_only=live_only)
            for rid in landed - self.alive:
                gone.setdefault(rid, _now())
            stats.reconciled = True
            self.state["reconciled_at"] = format_ts(_now())
        elif self._reconcile_due():
            started = _now()
            listed = self._listed_ids()
            landed = all_ids(pipeline, self.table, live_only=live_only)
            for rid in landed - listed:
                gone.setdefault(rid, started)
            self.missing = listed - landed - self.alive
            stats.reconciled = True
            self.state["reconciled_at"] = format_ts(started)
        for rid in self.alive:
            gone.pop(rid, None)
        return gone

    def apply(self, stats: TableRun) -> Iterator[Any]:
        from dagster_aha.dlt.source import DELETED_COLUMN

        try:
            pipeline = dlt.current.pipeline()
        except Exception:  # not inside a pipeline run: nothing is landed to compare with
            return
        try:
            gone = self._gone(stats, pipeline)
        except LandedQueryUnsupported as exc:
            message = f"{self.table}: deletes not applied, the destination has no SQL: {exc}"
            logger.warning(message)
            stats.warnings.append(message)
            return
        if self.missing:
            yield from self._missing_rows(stats)
        if not gone:
            return
        if self.run.deletes == "soft":
            stats.deletes_applied += soft_delete(pipeline, self.table, gone)
            return
        stats.deletes_applied += len(gone)
        rows = [{"id": rid, DELETED_COLUMN: True} for rid in sorted(gone)]
        for i in range(0, len(rows), 1000):
            yield rows[i : i + 1000]

    def _missing_rows(self, stats: TableRun) -> Iterator[Any]:
        """The rows of :attr:`missing` (restored records), from one full read of the stream."""
        client = self.run.client()
        shaper = RowShaper()
        found: set[str] = set()
        batch: list[dict[str, Any]] = []
        hints: list[dict[str, Any]] = []
        for path in self.run.paths(self.stream):
            for record in reading.iter_path(client, self.stream, path, fields=self.fields):
                rid = record.get("id")
                if rid is None or str(rid) not in self.missing or str(rid) in found:
                    continue
                found.add(str(rid))
                row, new_hints = shaper.shape(record)
                batch.append(row)
                hints.extend(new_hints)
                if len(batch) >= 200:
                    yield with_hints(batch, hints)
                    batch, hints = [], []
        if batch or hints:
            yield with_hints(batch, hints)
        stats.records_restored += len(found)
        stats.rows_loaded += len(found)
        message = (
            f"{self.table}: {len(found)} record(s) Aha! lists were missing from the table "
            "(restored from the recycle bin, or older than the cursor) and were landed"
        )
        if len(found) < len(self.missing):
            message += f"; {len(self.missing) - len(found)} left Aha! again while reading"
        logger.info(message)


def reconcile_period(hours: float | None) -> timedelta | None:
    """``reconcile_every`` from a number of hours (``None`` or negative: never)."""
    if hours is None or hours < 0:
        return None
    return timedelta(hours=hours)
