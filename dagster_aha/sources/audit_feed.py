"""Polling Aha!'s audit feed (``GET /api/v1/audits``) with a cursor that never skips an audit.

Used by the change sensor (``change_sensor.py``); no Dagster import.

The cursor (:class:`AuditCursor`, serialised as JSON) holds a creation-time lower bound
``since``, the ids (and creation times) of the audits already handled at or after it, and, while
a backlog is worked through, an upper bound ``until`` and the newest time ``high`` seen. One poll
(:func:`poll_audits`) asks for ``created_since=since`` (and ``created_before`` in a backlog),
page by page, until the feed is read or the request/time budget is spent:

* audits are kept only when ``since <= created_at (<= until)`` and their id is new: a server that
  ignores ``created_since`` / ``created_before`` costs more requests, never an audit;
* a complete read moves ``since`` to ``newest - overlap`` (audits can become visible a little
  after their ``created_at``; the overlap re-reads them and the seen ids drop the repeats);
* a read stopped by the budget moves on only as far as the order of what it read proves safe:
  oldest-first pages move ``since`` to the last time read; newest-first pages set ``until`` to
  the oldest time read (the older rest is the next poll's backlog); pages in no order keep the
  bounds (the seen ids drop what was handled);
* on a server seen ignoring the filters the bounds cannot narrow what it sends, so the next poll
  resumes the same query at the next page (``page``) until the read completes.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dagster_aha.client import AhaClient, AhaResponseError
from dagster_aha.client.pagination import find_record_key, parse_pagination
from dagster_aha.sources.reading import normalize_audit
from dagster_aha.sources.timestamps import format_ts, parse_ts

__all__ = ["AuditCursor", "AuditPoll", "poll_audits"]

_CURSOR_VERSION = 1
_PER_PAGE = 200


@dataclass
class AuditCursor:
    """Where the audit feed was read up to (see the module doc)."""

    since: datetime
    seen: dict[str, str] = field(default_factory=dict)  # audit id -> created_at
    until: datetime | None = None
    high: datetime | None = None
    page: int = 1  # > 1 only while resuming a read over a server that ignores the filters

    def serialize(self) -> str:
        return json.dumps(
            {
                "v": _CURSOR_VERSION,
                "since": format_ts(self.since),
                "until": format_ts(self.until) if self.until is not None else None,
                "high": format_ts(self.high) if self.high is not None else None,
                "seen": self.seen,
                "page": self.page,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def deserialize(cls, text: str) -> AuditCursor:
        """Parse :meth:`serialize`'s output; ``ValueError`` when it is not one."""
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ValueError(f"not an Aha! audit cursor: {e}") from None
        if not isinstance(data, dict) or data.get("v") != _CURSOR_VERSION:
            raise ValueError("not an Aha! audit cursor (unknown version)")
        since = parse_ts(data.get("since"))
        if since is None:
            raise ValueError("Aha! audit cursor without a valid 'since'")
        seen = data.get("seen") or {}
        if not isinstance(seen, dict):
            raise ValueError("Aha! audit cursor with an invalid 'seen'")
        page = data.get("page", 1)
        if not isinstance(page, int) or isinstance(page, bool) or page < 1:
            raise ValueError("Aha! audit cursor with an invalid 'page'")
        return cls(
            since=since,
            seen={str(k): str(v) for k, v in seen.items()},
            until=parse_ts(data.get("until")),
            high=parse_ts(data.get("high")),
            page=page,
        )


@dataclass
class AuditPoll:
    """What one poll found: the new audits (normalised rows), the next cursor, the cost."""

    audits: list[dict[str, Any]]
    cursor: AuditCursor
    complete: bool
    requests: int
    pages: int
    order: str  # "ascending" | "descending" | "unordered" | "empty"


def _order(times: list[datetime]) -> str:
    if len(times) < 2:
        return "empty" if not times else "ascending"
    if all(a <= b for a, b in itertools.pairwise(times)):
        return "ascending"
    if all(a >= b for a, b in itertools.pairwise(times)):
        return "descending"
    return "unordered"


def _prune(seen: Mapping[str, str], since: datetime) -> dict[str, str]:
    out: dict[str, str] = {}
    for audit_id, created in seen.items():
        ts = parse_ts(created)
        if ts is None or ts >= since:
            out[audit_id] = created
    return out


def poll_audits(
    client: AhaClient,
    cursor: AuditCursor,
    *,
    max_requests: int,
    deadline: float,
    overlap: timedelta = timedelta(minutes=5),
    params: Mapping[str, str] | None = None,
) -> AuditPoll:
    """Read the audits after ``cursor`` within ``max_requests`` requests and the monotonic
    ``deadline``; returns the new audits and the cursor to store (see the module doc)."""
    if max_requests < 1:
        raise ValueError("max_requests must be at least 1")
    query: dict[str, Any] = dict(params or {})
    query["created_since"] = format_ts(cursor.since)
    if cursor.until is not None:
        # created_before is exclusive; the extra millisecond keeps audits at `until` itself
        query["created_before"] = format_ts(cursor.until + timedelta(milliseconds=1))
    seen = dict(cursor.seen)
    new: list[dict[str, Any]] = []
    times: list[datetime] = []  # creation times in read order (all records, kept or not)
    in_window: list[datetime] = []
    requests = pages = 0
    page = cursor.page
    complete = False
    ignored = False  # the server sent audits outside the window: it ignores the filters
    while True:
        if requests >= max_requests or (requests > 0 and time.monotonic() > deadline):
            break
        body = client.request(
            "GET", "audits", params={**query, "page": page, "per_page": _PER_PAGE}
        )
        requests += 1
        if not isinstance(body, dict):
            raise AhaResponseError(200, "GET", client.url_for("audits"), "empty audits page")
        records = body[find_record_key(body, "audits")]
        pagination = parse_pagination(body)
        total_pages = pagination.total_pages if pagination is not None else None
        pages += 1
        for record in records:
            if not isinstance(record, dict) or record.get("id") is None:
                raise AhaResponseError(
                    200, "GET", client.url_for("audits"), "an audit without an id"
                )
            created = parse_ts(record.get("created_at"))
            if created is not None:
                times.append(created)
                if created < cursor.since or (cursor.until is not None and created > cursor.until):
                    ignored = True  # the server ignored created_since / created_before
                    continue
                in_window.append(created)
            audit_id = str(record["id"])
            if audit_id in seen:
                continue
            seen[audit_id] = record.get("created_at") or ""
            new.append(normalize_audit(record))
        if total_pages is None or page >= total_pages:
            complete = True
            break
        if not records:
            raise AhaResponseError(
                200,
                "GET",
                client.url_for("audits"),
                f"audits page {page} of {total_pages} is empty: the read would be incomplete",
            )
        page += 1
    order = _order(times)
    if not complete and (ignored or cursor.page > 1):
        # the window cannot be narrowed on this server: resume the same query at the next page
        # (new audits only add pages after the window's end or before its start)
        next_cursor = AuditCursor(
            since=cursor.since,
            seen=seen,
            until=cursor.until,
            high=_high(in_window, cursor.high),
            page=page,  # the first page not read
        )
    else:
        next_cursor = _advance(
            cursor, seen, in_window, complete=complete, order=order, overlap=overlap
        )
    return AuditPoll(
        audits=new,
        cursor=next_cursor,
        complete=complete,
        requests=requests,
        pages=pages,
        order=order,
    )


def _high(times: list[datetime], previous: datetime | None) -> datetime | None:
    candidates = [*times, *([previous] if previous is not None else [])]
    return max(candidates) if candidates else None


def _advance(
    cursor: AuditCursor,
    seen: dict[str, str],
    in_window: list[datetime],
    *,
    complete: bool,
    order: str,
    overlap: timedelta,
) -> AuditCursor:
    high = _high(in_window, cursor.high)
    if complete:
        since = cursor.since if high is None else max(cursor.since, high - overlap)
        return AuditCursor(since=since, seen=_prune(seen, since), until=None, high=None)
    if not in_window:
        return AuditCursor(since=cursor.since, seen=seen, until=cursor.until, high=high)
    if order == "ascending":
        since = max(cursor.since, in_window[-1])
        return AuditCursor(since=since, seen=_prune(seen, since), until=cursor.until, high=high)
    if order == "descending":
        return AuditCursor(since=cursor.since, seen=seen, until=min(in_window), high=high)
    return AuditCursor(since=cursor.since, seen=seen, until=cursor.until, high=high)
