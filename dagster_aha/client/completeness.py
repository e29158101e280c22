"""A list read is complete or it raises: page checks, count checks and the server's clock.

``AhaClient.iter_records`` hands every page it receives to a :class:`ListReadCheck` before
yielding it. A page that looks wrong (empty or short before the last page, the same records as
the page before, a ``current_page`` other than the one asked for) is fetched again; when it stays
wrong the read raises :class:`AhaIncompleteReadError`. After the last page the records received
are compared with ``total_records``: a mismatch re-reads the list. When the counts moved between
pages (records added or removed while reading) the list is re-read too, and the read is accepted
once a pass is consistent, or once every record the server last counted has been seen.

:class:`ListReadReport` tells the caller what happened, including the server's clock (the
``Date`` header), which bounds any cursor taken from the records (:func:`cap_cursor`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from dagster_aha.client.errors import AhaError
from dagster_aha.client.pagination import parse_pagination

__all__ = [
    "CURSOR_SKEW",
    "AhaIncompleteReadError",
    "ListReadCheck",
    "ListReadReport",
    "cap_cursor",
    "parse_http_date",
]

#: How far a record's ``updated_at`` may be ahead of the server's ``Date`` before it counts as
#: dated in the future (clocks of Aha!'s machines differ a little).
CURSOR_SKEW = timedelta(seconds=60)
#: The ``Date`` header's resolution (whole seconds, RFC 9110).
DATE_RESOLUTION = timedelta(seconds=1)


class AhaIncompleteReadError(AhaError):
    """A list read came back short, repeated or inconsistent, and retrying did not help.

    Attributes: ``path`` (below ``/api/v1/``), ``page`` (the page at fault, or ``None`` for a
    count that does not add up over the whole list), ``expected_records`` (the server's
    ``total_records``) and ``received_records``.
    """

    def __init__(
        self,
        path: str,
        reason: str,
        *,
        page: int | None = None,
        expected_records: int | None = None,
        received_records: int | None = None,
        url: str | None = None,
    ) -> None:
        self.path = path
        self.page = page
        self.expected_records = expected_records
        self.received_records = received_records
        where = f"page {page}" if page is not None else "whole list"
        counts = f"received {received_records} of total_records {expected_records}"
        super().__init__(
            None, "GET", url, f"incomplete read of {path!r} ({where}): {reason}; {counts}"
        )


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header as an aware UTC datetime (``None`` when absent or unreadable)."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def cap_cursor(
    newest: datetime | None, server_time: datetime | None, *, skew: timedelta = CURSOR_SKEW
) -> tuple[datetime | None, bool]:
    """``(cursor, future)``: the newest ``updated_at`` seen, never past the server's clock.

    ``server_time`` is the ``Date`` of the read's responses (the local clock when the server sent
    none). A record dated more than ``skew`` after it is in the future (``future=True``): it is
    landed, but the cursor stops at the server's time so later changes are still read.
    """
    if newest is None:
        return None, False
    now = server_time or datetime.now(timezone.utc)
    if newest > now + skew:
        return now, True
    if newest < now + DATE_RESOLUTION:
        # ``Date`` counts whole seconds: a record of the same second is not ahead of it
        return newest, False
    return now, False


@dataclass
class ListReadReport:
    """What one ``iter_records`` call did; pass one in with ``report=`` to read it afterwards."""

    path: str = ""
    complete: bool = False
    pages: int = 0
    records: int = 0  # distinct records yielded
    total_records: int | None = None  # the server's count (of the last pass)
    total_pages: int | None = None
    passes: int = 0  # 1, or more when the list was re-read
    page_retries: int = 0  # pages fetched again because they looked wrong
    server_time: datetime | None = None  # the latest ``Date`` header of the read
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def observe_date(self, value: str | None) -> None:
        parsed = parse_http_date(value)
        if parsed is None:
            return
        with self._lock:
            if self.server_time is None or parsed > self.server_time:
                self.server_time = parsed


def _fingerprint(records: Sequence[Any]) -> tuple[Any, ...]:
    ids = [r.get("id") for r in records if isinstance(r, dict)]
    if ids and all(i is not None for i in ids):
        return tuple(str(i) for i in ids)
    return (len(records), repr(records[0])[:500], repr(records[-1])[:500]) if records else ()


class ListReadCheck:
    """The checks of one pass over a list (see the module docstring)."""

    def __init__(self, path: str, report: ListReadReport) -> None:
        self.path = path
        self.report = report
        self.first_totals: tuple[int | None, int | None] | None = None
        self.last_totals: tuple[int | None, int | None] = (None, None)
        self.moved = False
        self.paginated = False
        self.end_offset = 0  # record position reached (page offset + records of the page)
        self._previous: tuple[int, tuple[Any, ...]] | None = None
        self._per_page: int | None = None

    def problem(
        self, page: int, per_page: int, body: dict[str, Any], records: Sequence[Any]
    ) -> str | None:
        """Why this page looks wrong, or ``None``. Does not change the pass's state."""
        pag = parse_pagination(body)
        if pag is None:
            return None
        if pag.current_page is not None and pag.current_page != page:
            return f"asked for page {page}, the server answered current_page {pag.current_page}"
        fingerprint = _fingerprint(records)
        if (
            self._previous is not None
            and self._previous[0] == page - 1
            and fingerprint
            and fingerprint == self._previous[1]
        ):
            return f"page {page} repeats page {page - 1} (page parameter ignored?)"
        total_pages = pag.total_pages
        last = total_pages is None or page >= total_pages
        reached = (page - 1) * per_page + len(records)
        over_counted = pag.total_records is not None and reached >= pag.total_records
        if not last and len(records) < per_page and not over_counted:
            return (
                f"page {page} of {total_pages} holds {len(records)} records, expected {per_page} "
                "(empty or short page before the last)"
            )
        return None

    def accept(
        self, page: int, per_page: int, body: dict[str, Any], records: Sequence[Any]
    ) -> None:
        pag = parse_pagination(body)
        self.report.pages += 1
        self._previous = (page, _fingerprint(records))
        if records:  # an empty trailing page (over-counted total_pages) adds nothing
            self.end_offset = (page - 1) * per_page + len(records)
        if pag is None:
            return
        self.paginated = True
        totals = (pag.total_records, pag.total_pages)
        if self.first_totals is None:
            self.first_totals = totals
        elif totals[0] != self.last_totals[0] or (
            per_page == self._per_page and totals[1] != self.last_totals[1]
        ):
            self.moved = True  # (total_pages also changes when a 504 halved the page size)
        self.last_totals = totals
        self._per_page = per_page
        self.report.total_records, self.report.total_pages = totals

    def incomplete(self) -> str | None:
        """After the last page: why the pass does not add up, or ``None``."""
        if not self.paginated:
            return None
        if self.moved:
            return (
                f"the counts moved while reading ({self.first_totals} -> {self.last_totals}): "
                "records were added or removed"
            )
        expected = self.last_totals[0]
        if expected is not None and self.end_offset != expected:
            return f"the pages held {self.end_offset} records, total_records says {expected}"
        return None

    def error(self, reason: str, *, page: int | None = None, url: str | None = None) -> AhaError:
        return AhaIncompleteReadError(
            self.path,
            reason,
            page=page,
            expected_records=self.last_totals[0],
            received_records=self.end_offset,
            url=url,
        )
