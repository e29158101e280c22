"""Paginated list reads of an :class:`~dagster_aha.client.AhaClient`: pages in flight,
speculative prefetch, 504 page shrinking, and passes until the list is complete.

:class:`ListReader` holds no state of its own beyond its client: requests go through the
client's ``_send`` (pacing, retries, errors), and :meth:`AhaClient.iter_records` and
:meth:`AhaClient.get_pivot_report` are its public faces.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from dagster_aha.client.completeness import (
    AhaIncompleteReadError,
    ListReadCheck,
    ListReadReport,
)
from dagster_aha.client.errors import AhaError, AhaResponseError
from dagster_aha.client.pagination import PageInfo, find_record_key, parse_pagination
from dagster_aha.client.prefetch import page_hints, speculative_last_page
from dagster_aha.client.urls import check_api_path

if TYPE_CHECKING:
    from dagster_aha.client.client import AhaClient

__all__ = ["MAX_LIST_PASSES", "MAX_PER_PAGE", "AbandonedPage", "ListReader", "ShrinkPage"]

logger = logging.getLogger("dagster_aha.client")

MAX_PER_PAGE = 200
#: Passes over a list whose pages do not add up (the first read and re-reads).
MAX_LIST_PASSES = 3


class AbandonedPage(Exception):
    """A page of a read that is over (never raised to a caller: its future is not read)."""


class ShrinkPage(Exception):
    """A list page timed out (504): the rest of the list is read with a smaller per_page."""

    def __init__(self, page: int, error: AhaError) -> None:
        self.page = page
        self.error = error


class ListReader:
    """The paginated reads of one client."""

    def __init__(self, client: AhaClient) -> None:
        self._c = client

    def get_page(
        self,
        path: str,
        params: dict[str, Any],
        page: int,
        per_page: int,
        report: ListReadReport | None = None,
        abandon: threading.Event | None = None,
    ) -> dict[str, Any]:
        query = dict(params)
        query["page"] = page
        query["per_page"] = per_page
        attempt = 0
        while True:
            try:
                resp = self._c._send(
                    "GET", path, params=query, shrink_on_504=per_page > 1, abandon=abandon
                )
            except ShrinkPage as sp:
                raise ShrinkPage(page, sp.error) from None
            try:
                body = self._c._json(resp, "GET")
                break
            except AhaResponseError:
                if attempt >= self._c.max_retries or not self._c._truncated(resp):
                    raise
                self._c._retry_truncated(resp, attempt)
                attempt += 1
        if body is None:
            raise AhaResponseError(
                resp.status_code, "GET", resp.url, "expected a JSON object for a list page"
            )
        with self._c._stats.lock:
            self._c._stats.pages += 1
        if report is not None:
            report.observe_date(resp.headers.get("Date"))
        return body

    def checked_records(
        self,
        path: str,
        params: dict[str, Any],
        page: int,
        per_page: int,
        body: dict[str, Any],
        record_key: str | None,
        check: ListReadCheck | None,
    ) -> list[Any]:
        """The records of a page that passed ``check`` (fetched again while it looks wrong)."""
        attempt = 0
        while True:
            records = body[self.record_key_of(body, record_key, path)]
            if check is None:
                return records
            reason = check.problem(page, per_page, body, records)
            if reason is None:
                check.accept(page, per_page, body, records)
                return records
            if attempt >= max(self._c.max_retries, 1):
                raise check.error(reason, page=page, url=self._c.url_for(path))
            wait = self._c._backoff(attempt)
            attempt += 1
            check.report.page_retries += 1
            self._c._count_retry()
            logger.warning(
                "Aha! list %s: %s; fetching page %d again (%d/%d) in %.2fs",
                path,
                reason,
                page,
                attempt,
                max(self._c.max_retries, 1),
                wait,
            )
            self._c._sleep(wait)
            body = self.get_page(path, params, page, per_page, check.report)

    def in_flight_target(self) -> int:
        """Pages to keep in flight now: Little's law on the limiter's recent round trips."""
        return self._c._in_flight.target(self._c._limiter.round_trip)

    def pages(
        self,
        path: str,
        params: dict[str, Any],
        per_page: int,
        record_key: str | None,
        first_body: Callable[[dict[str, Any]], None] | None = None,
        on_page: Callable[[PageInfo], None] | None = None,
        check: ListReadCheck | None = None,
        expected_pages: int | None = None,
    ) -> Iterator[list[Any]]:
        """Yield each page's records in order (pages 2..N fetched concurrently).

        Pages 2..k start together with page 1 when the previous read of the same list had k
        pages (see :mod:`.prefetch`), and the pages after them as soon as one of them answers
        (its ``total_pages``); only pages up to page 1's ``total_pages`` are used. The
        read keeps :meth:`_in_flight_target` pages in flight. A 504 on a page restarts the
        remaining range at half the page size: the next page index and the number of records
        to skip are derived from the record offset reached. Every page used, speculative or
        not, passes ``check`` (completeness) in page order before it is yielded.
        """
        report = check.report if check is not None else None
        check_api_path(path)
        offset = 0  # records (positions) consumed so far
        shrinks = 0
        got_first = False
        yielded = 0
        hints = page_hints(self._c.base_url, self._c._limiter.store)
        hint_key = hints.key(path, params, per_page)
        pool = ThreadPoolExecutor(
            max_workers=self._c.max_concurrency, thread_name_prefix="aha-page"
        )
        pending: deque[tuple[int, Future[dict[str, Any]]]] = deque()
        over = threading.Event()  # set when the read ends: its pages still running stop retrying

        def submit(p: int, size: int) -> None:
            fut = pool.submit(self.get_page, path, params, p, size, report, over)
            pending.append((p, fut))

        try:
            while True:
                start_page = offset // per_page + 1
                skip = offset - (start_page - 1) * per_page
                for _, fut in pending:
                    fut.cancel()
                pending.clear()
                submit(start_page, per_page)
                last = start_page
                if not got_first:
                    budget = min(self.in_flight_target(), self._c._limiter.windows[0][1])
                    known = hints.get(hint_key)
                    last = speculative_last_page(known or expected_pages, budget)
                    for p in range(2, last + 1):
                        submit(p, per_page)
                    if last > 1:
                        last = self._fan_out_before_page_one(pending, last, submit, per_page)
                try:
                    body = pending.popleft()[1].result()
                    records = self.checked_records(
                        path, params, start_page, per_page, body, record_key, check
                    )
                except ShrinkPage as sp:
                    per_page, shrinks = self.shrink(per_page, shrinks, sp)
                    continue
                if not got_first and first_body is not None:
                    first_body(body)
                pag = parse_pagination(body)
                total = pag.total_pages if pag else None
                if not got_first:
                    hints.set(hint_key, max(1, total or 1))
                got_first = True
                offset = (start_page - 1) * per_page + len(records)
                page_records = records[skip:]
                yield page_records
                yielded += len(page_records)
                if on_page is not None:
                    on_page(PageInfo(start_page, total, yielded))
                if not records or total is None or start_page >= total:
                    return
                # speculative pages beyond the end are dropped (never read)
                while pending and pending[-1][0] > total:
                    pending.pop()[1].cancel()
                nxt = max(last, start_page) + 1
                restart = False
                while pending or nxt <= total:
                    target = self.in_flight_target()
                    busy = sum(1 for _, f in pending if not f.done())
                    while nxt <= total and busy < target and len(pending) < 2 * target:
                        submit(nxt, per_page)
                        nxt += 1
                        busy += 1
                    p, fut = pending[0]
                    if not fut.done():
                        wait([f for _, f in pending if not f.done()], return_when=FIRST_COMPLETED)
                        continue
                    pending.popleft()
                    try:
                        body = fut.result()
                        records = self.checked_records(
                            path, params, p, per_page, body, record_key, check
                        )
                    except ShrinkPage as sp:
                        offset = (p - 1) * per_page
                        per_page, shrinks = self.shrink(per_page, shrinks, sp)
                        restart = True
                        break
                    offset = (p - 1) * per_page + len(records)
                    if not records:
                        return
                    yield records
                    yielded += len(records)
                    if on_page is not None:
                        on_page(PageInfo(p, total, yielded))
                if not restart:
                    return
        finally:
            over.set()
            for _, fut in pending:
                fut.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _fan_out_before_page_one(
        self,
        pending: deque[tuple[int, Future[dict[str, Any]]]],
        last: int,
        submit: Callable[[int, int], None],
        per_page: int,
    ) -> int:
        """While page 1 is still out, start the pages after the speculative ones as soon as
        any speculative page answers: its ``pagination`` says how many pages there are, as
        page 1's will (page 1's own answer still decides which pages are used). Nothing is
        started beyond that count, so no page beyond the end is added. Returns the last page
        started."""
        first = pending[0][1]
        while not first.done():
            wait([f for _, f in pending if not f.done()], return_when=FIRST_COMPLETED)
            total: int | None = None
            for _, fut in itertools.islice(pending, 1, None):
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    pag = parse_pagination(fut.result())
                    if pag is not None and pag.total_pages is not None:
                        total = pag.total_pages
                        break
            if total is None:
                continue
            target = self.in_flight_target()
            busy = sum(1 for _, f in pending if not f.done())
            while last < total and busy < target and len(pending) < 2 * target:
                last += 1
                submit(last, per_page)
                busy += 1
        return last

    def shrink(self, per_page: int, shrinks: int, sp: ShrinkPage) -> tuple[int, int]:
        if per_page <= 1 or shrinks >= max(self._c.max_retries, 1) * 2:
            raise sp.error
        new = max(1, per_page // 2)
        self._c._count_retry()
        wait = self._c._backoff(0)
        logger.warning(
            "Aha! list page %d timed out (504); retrying with per_page=%d (was %d) in %.2fs",
            sp.page,
            new,
            per_page,
            wait,
        )
        self._c._sleep(wait)
        return new, shrinks + 1

    def record_key_of(self, body: dict[str, Any], record_key: str | None, path: str) -> str:
        try:
            return find_record_key(body, record_key)
        except AhaResponseError as exc:
            raise AhaResponseError(200, "GET", self._c.url_for(path), exc.message) from None

    def records(
        self,
        path: str,
        query: dict[str, Any],
        size: int,
        record_key: str | None,
        on_page: Callable[[PageInfo], None] | None,
        report: ListReadReport | None,
        expected_pages: int | None,
    ) -> Iterator[dict[str, Any]]:
        """Every record of a list (see :meth:`AhaClient.iter_records`): the passes over it,
        ``id`` de-duplication, and the completeness verdict."""
        report = report if report is not None else ListReadReport()
        report.path = path
        seen: dict[str, Any] = {}
        for attempt in range(MAX_LIST_PASSES):
            report.passes = attempt + 1
            check = ListReadCheck(path, report)
            for records in self.pages(
                path,
                query,
                size,
                record_key,
                on_page=on_page,
                check=check,
                expected_pages=expected_pages if attempt == 0 else None,
            ):
                for rec in records:
                    if not isinstance(rec, dict):
                        raise AhaResponseError(
                            200,
                            "GET",
                            self._c.url_for(path),
                            f"expected each record to be a JSON object, got {type(rec).__name__}",
                        )
                    rid = rec.get("id")
                    if rid is not None:
                        sid = str(rid)
                        stamp = rec.get("updated_at")
                        if sid in seen and seen[sid] == stamp:
                            continue
                        seen[sid] = stamp
                    report.records = len(seen)
                    yield rec
            reason = check.incomplete()
            if reason is None:
                report.complete = True
                return
            expected = check.last_totals[0]
            if check.moved and attempt > 0 and expected is not None and len(seen) >= expected:
                # busy list: every record the server counts last has been seen by now
                report.complete = True
                return
            if attempt + 1 < MAX_LIST_PASSES:
                logger.warning("Aha! list %s: %s; reading the list again", path, reason)
                continue
            raise AhaIncompleteReadError(
                path,
                reason,
                expected_records=expected,
                received_records=check.end_offset,
                url=self._c.url_for(path),
            )
