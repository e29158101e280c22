"""A list read is complete or raises AhaIncompleteReadError (pytest-httpserver fakes)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dagster_aha import AhaIncompleteReadError
from dagster_aha.client import ListReadReport, cap_cursor

PATH = "/api/v1/features"


def _body(records: list[dict[str, Any]], page: int, pages: int, total: int | None) -> str:
    pag: dict[str, Any] = {"total_pages": pages, "current_page": page}
    if total is not None:
        pag["total_records"] = total
    return json.dumps({"features": records, "pagination": pag})


class Server:
    """``n`` records at 2 per page; ``ignore_page`` serves page 1 always (no current_page)."""

    def __init__(self, n: int, *, ignore_page: bool = False, over_count: int = 0) -> None:
        self.records = [{"id": str(100 + i)} for i in range(n)]
        self.ignore_page = ignore_page
        self.over_count = over_count
        self.calls = 0
        self.on_call: Any = None

    def __call__(self, request: Request) -> Response:
        self.calls += 1
        if self.on_call:
            self.on_call(self)
        page = 1 if self.ignore_page else int(request.args["page"])
        per = int(request.args["per_page"])
        n = len(self.records)
        chunk = self.records[(page - 1) * per : page * per]
        body = json.loads(_body(chunk, page, -(-n // per), n + self.over_count))
        if self.ignore_page:
            del body["pagination"]["current_page"]
        return Response(
            json.dumps(body),
            content_type="application/json",
        )


def test_a_page_that_repeats_the_previous_one_raises(
    make_client: Any, httpserver: HTTPServer
) -> None:
    server = Server(6, ignore_page=True)
    httpserver.expect_request(PATH).respond_with_handler(server)
    with pytest.raises(AhaIncompleteReadError) as info:
        list(make_client(max_concurrency=1, max_retries=2).iter_records("features", per_page=2))
    assert info.value.page == 2 and "repeats page 1" in str(info.value)
    assert info.value.expected_records == 6 and info.value.received_records == 2


def test_counts_that_never_add_up_raise_after_re_reads(
    make_client: Any, httpserver: HTTPServer
) -> None:
    server = Server(5, over_count=3)
    httpserver.expect_request(PATH).respond_with_handler(server)
    with pytest.raises(AhaIncompleteReadError, match="total_records says 8") as info:
        list(make_client().iter_records("features", per_page=2))
    assert info.value.page is None and server.calls == 3 * 3  # three passes of three pages


def test_records_added_while_reading_do_not_fail_a_healthy_read(
    make_client: Any, httpserver: HTTPServer
) -> None:
    server = Server(6)

    def insert_once(s: Server) -> None:
        if s.calls == 2:  # after page 1: a new record at the head shifts every page
            s.records.insert(0, {"id": "99"})

    server.on_call = insert_once
    httpserver.expect_request(PATH).respond_with_handler(server)
    report = ListReadReport()
    client = make_client(max_concurrency=1)
    ids = [r["id"] for r in client.iter_records("features", per_page=2, report=report)]
    assert sorted(set(ids)) == sorted(r["id"] for r in server.records)  # nothing lost
    assert len(ids) == len(set(ids))  # nothing twice
    assert report.complete and report.passes == 2


def test_the_report_carries_the_server_clock_and_caps_the_cursor(
    make_client: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(PATH).respond_with_handler(Server(3))
    report = ListReadReport()
    list(make_client().iter_records("features", per_page=2, report=report))
    server_time = report.server_time  # the Date header the (werkzeug) server sent
    assert server_time is not None and report.complete and report.records == 3
    assert abs(server_time - datetime.now(timezone.utc)) < timedelta(hours=1)
    future = datetime(2036, 1, 1, tzinfo=timezone.utc)
    assert cap_cursor(future, report.server_time) == (server_time, True)
    close = server_time + timedelta(seconds=30)  # within the skew: not "future", still capped
    assert cap_cursor(close, report.server_time) == (server_time, False)
    assert cap_cursor(None, report.server_time) == (None, False)
