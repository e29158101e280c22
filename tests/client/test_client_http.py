"""AhaClient against pytest-httpserver: pagination (2) and retries (6)."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dagster_aha import (
    AhaAuthError,
    AhaBadRequestError,
    AhaClient,
    AhaConnectionError,
    AhaIncompleteReadError,
    AhaNotFoundError,
    AhaResponseError,
    AhaServerError,
    AhaTimeoutError,
    PageInfo,
)

API_KEY = "sk-test-SECRET-0123456789abcdef"  # same as conftest's


def free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


FEATURES = "/api/v1/features"


def _page(
    records: list[dict[str, Any]],
    page: int,
    total_pages: int,
    form: str = "object",
    key: str = "pagination",
    rkey: str = "features",
    total_records: int | None = None,
) -> dict[str, Any]:
    pag: Any = {"total_pages": total_pages, "current_page": page}
    if total_records is not None:
        pag["total_records"] = total_records
    if form == "list":
        pag = [pag]
    return {rkey: records, key: pag}


def _recs(start: int, n: int) -> list[dict[str, Any]]:
    return [{"id": str(i), "name": f"f{i}"} for i in range(start, start + n)]


class Pager:
    """A list endpoint serving ``total`` records with honest offset paging."""

    def __init__(
        self,
        total: int,
        *,
        form: str = "object",
        key: str = "pagination",
        delay: float = 0.0,
        fail: dict[tuple[int, int], int] | None = None,
    ) -> None:
        self.total = total
        self.form = form
        self.key = key
        self.delay = delay
        self.fail = dict(fail or {})  # (page, per_page) -> status, once
        self.calls: list[tuple[int, int]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", 30))
        with self.lock:
            self.calls.append((page, per_page))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            status = self.fail.pop((page, per_page), None)
        try:
            if self.delay:
                time.sleep(self.delay)
            if status:
                return Response("upstream timed out", status=status)
            pages = max(1, -(-self.total // per_page))
            start = (page - 1) * per_page
            recs = _recs(start, max(0, min(per_page, self.total - start)))
            return Response(
                json.dumps(_page(recs, page, pages, self.form, self.key, total_records=self.total)),
                content_type="application/json",
            )
        finally:
            with self.lock:
                self.in_flight -= 1


# 2. pagination ---
@pytest.mark.parametrize(
    ("form", "key"),
    [
        ("object", "pagination"),
        ("list", "pagination"),
        ("list", "pagingation"),
        ("object", "pagingation"),
    ],
)
def test_pagination_forms(make_client: Any, httpserver: HTTPServer, form: str, key: str) -> None:
    pager = Pager(5, form=form, key=key)
    httpserver.expect_request(FEATURES).respond_with_handler(pager)
    infos: list[PageInfo] = []
    recs = list(make_client().iter_records("features", per_page=2, on_page=infos.append))
    assert [r["id"] for r in recs] == ["0", "1", "2", "3", "4"]
    assert sorted(pager.calls) == [(1, 2), (2, 2), (3, 2)]
    assert pager.calls[0] == (1, 2)  # page 1 first
    assert infos == [PageInfo(1, 3, 2), PageInfo(2, 3, 4), PageInfo(3, 3, 5)]


def test_no_pagination_means_one_page(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_request(FEATURES).respond_with_json({"features": _recs(0, 3)})
    assert len(list(make_client().iter_records("features"))) == 3
    assert len(httpserver.log) == 1


def test_per_page_default_200_and_capped(make_client: Any, httpserver: HTTPServer) -> None:
    pager = Pager(3)
    httpserver.expect_request(FEATURES).respond_with_handler(pager)
    c = make_client()
    list(c.iter_records("features"))
    list(c.iter_records("features", per_page=500))
    assert make_client(per_page=1000).per_page == 200
    list(c.iter_records("features", per_page=0))
    assert pager.calls == [(1, 200), (1, 200), (1, 200)]


def test_empty_page_before_the_last_raises(make_client: Any, httpserver: HTTPServer) -> None:
    # an empty page 2 of 50 is never the end of the list: fetched again, then a typed error
    httpserver.expect_request(
        FEATURES, query_string={"page": "1", "per_page": "2"}
    ).respond_with_json(_page(_recs(0, 2), 1, 50))
    httpserver.expect_request(
        FEATURES, query_string={"page": "2", "per_page": "2"}
    ).respond_with_json(_page([], 2, 50))
    httpserver.expect_request(re.compile(".*")).respond_with_json(_page(_recs(90, 2), 3, 50))
    ids: list[str] = []
    with pytest.raises(AhaIncompleteReadError) as info:
        for r in make_client(max_concurrency=1).iter_records("features", per_page=2):
            ids.append(r["id"])
    assert ids == ["0", "1"]
    assert info.value.path == "features" and info.value.page == 2
    assert "page 2 of 50 holds 0 records" in str(info.value)
    page2 = [e for e in httpserver.log if e[0].args.get("page") == "2"]
    assert len(page2) > 1  # fetched again before giving up


def test_total_pages_zero(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/deletions").respond_with_json(
        {"deletions": [], "pagination": {"total_records": 0, "total_pages": 0, "current_page": 1}}
    )
    assert list(make_client().iter_records("deletions")) == []


def test_dedupe_by_id_on_offset_drift(make_client: Any, httpserver: HTTPServer) -> None:
    # a record inserted at the head between page requests shifts "2" onto page 2 again
    httpserver.expect_request(
        FEATURES, query_string={"page": "1", "per_page": "3"}
    ).respond_with_json(_page(_recs(0, 3), 1, 2))
    httpserver.expect_request(
        FEATURES, query_string={"page": "2", "per_page": "3"}
    ).respond_with_json(_page(_recs(2, 3), 2, 2))
    ids = [r["id"] for r in make_client().iter_records("features", per_page=3)]
    assert ids == ["0", "1", "2", "3", "4"]


def test_concurrent_pages_bounded_and_in_order(
    make_threaded_client: Any, threaded_server: HTTPServer
) -> None:
    pager = Pager(40, delay=0.05)
    threaded_server.expect_request(FEATURES).respond_with_handler(pager)
    client = make_threaded_client(max_concurrency=3)
    ids = [r["id"] for r in client.iter_records("features", per_page=2)]
    assert ids == [str(i) for i in range(40)]
    assert pager.calls[0] == (1, 2)
    assert pager.max_in_flight == 3  # concurrent, never more than max_concurrency
    assert client.stats.pages == 20


def test_early_break_stops_fetching(make_threaded_client: Any, threaded_server: HTTPServer) -> None:
    pager = Pager(1000, delay=0.01)
    threaded_server.expect_request(FEATURES).respond_with_handler(pager)
    it = make_threaded_client(max_concurrency=2).iter_records("features", per_page=2)
    first = [next(it) for _ in range(5)]
    it.close()
    assert [r["id"] for r in first] == ["0", "1", "2", "3", "4"]
    time.sleep(0.1)
    assert len(pager.calls) <= 2 + 2 * 2 + 2  # page 1 + a bounded prefetch window


def test_record_key_and_wrong_shapes(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/two").respond_with_json({"a": [], "b": [], "pagination": {}})
    httpserver.expect_request("/api/v1/none").respond_with_json({"a": 1})
    httpserver.expect_request("/api/v1/scalars").respond_with_json({"features": [1, 2]})
    httpserver.expect_request("/api/v1/recs").respond_with_json(
        {"custom_object_records": _recs(0, 2), "meta": []}
    )
    c = make_client()
    with pytest.raises(AhaResponseError, match="ambiguous"):
        list(c.iter_records("two"))
    with pytest.raises(AhaResponseError, match="expected a list") as ei:
        list(c.iter_records("none"))
    assert "/api/v1/none" in str(ei.value)
    with pytest.raises(AhaResponseError, match="expected a list under 'x'"):
        list(c.iter_records("none", record_key="x"))
    with pytest.raises(AhaResponseError, match="JSON object"):
        list(c.iter_records("scalars"))
    assert len(list(c.iter_records("recs", record_key="custom_object_records"))) == 2


# 6. retries ---
@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_idempotent_methods_retried_on_5xx(
    make_client: Any, httpserver: HTTPServer, status: int, method: str
) -> None:
    httpserver.expect_ordered_request("/api/v1/epics/1", method=method).respond_with_data(
        "<html><body><h1>Bad</h1></body></html>", status
    )
    httpserver.expect_ordered_request("/api/v1/epics/1", method=method).respond_with_json(
        {"epic": {"id": "1"}}
    )
    c = make_client()
    assert c.request(method, "epics/1") == {"epic": {"id": "1"}}
    assert c.stats.retries == 1 and c.stats.requests == 2
    assert c.stats.by_status == {status: 1, 200: 1}


def test_retry_budget_then_typed_error(
    make_client: Any, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/api/v1/x").respond_with_data("<h1>Oops</h1>", 502)
    httpserver.expect_request("/api/v1/y").respond_with_data("", 504)
    c = make_client(max_retries=2)
    with caplog.at_level(logging.INFO, logger="dagster_aha"), pytest.raises(AhaServerError) as ei:
        c.request("GET", "x")
    assert ei.value.status == 502 and "Oops" in ei.value.message
    assert len(httpserver.log) == 3
    retry_lines = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retry_lines) == 2
    assert all("502" in r.getMessage() and "s" in r.getMessage() for r in retry_lines)
    with pytest.raises(AhaTimeoutError):
        c.request("GET", "y")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, AhaBadRequestError),
        (401, AhaAuthError),
        (403, AhaAuthError),
        (404, AhaNotFoundError),
        (422, AhaBadRequestError),
    ],
)
def test_client_errors_never_retried(
    make_client: Any, httpserver: HTTPServer, status: int, cls: type
) -> None:
    httpserver.expect_request("/api/v1/features/X-1").respond_with_json(
        {"error": "nope"}, status=status
    )
    c = make_client()
    with pytest.raises(cls) as ei:
        c.request("GET", "features/X-1")
    assert len(httpserver.log) == 1 and c.stats.retries == 0
    assert ei.value.status == status and "nope" in str(ei.value)
    if status == 404:
        assert "not found or not visible to this API key" in str(ei.value)


def test_connection_errors_retried_then_raised() -> None:
    port = free_port()
    c = AhaClient(
        api_key=API_KEY,
        base_url=f"http://127.0.0.1:{port}",
        max_retries=2,
        backoff_base=0.001,
        timeout=1,
    )
    with pytest.raises(AhaConnectionError) as ei:
        c.request("GET", "me")
    assert c.stats.retries == 2 and c.stats.requests == 3
    assert API_KEY not in str(ei.value)


def test_read_timeout_retried_for_get(raw_server: Any) -> None:
    srv = raw_server("hang", hang=1.0)
    c = AhaClient(api_key=API_KEY, base_url=srv.url, max_retries=1, backoff_base=0.001, timeout=0.2)
    with pytest.raises(AhaTimeoutError):
        c.request("GET", "me")
    assert len(srv.requests) == 2


def test_reset_retried_for_put(raw_server: Any) -> None:
    srv = raw_server("reset")
    c = AhaClient(api_key=API_KEY, base_url=srv.url, max_retries=2, backoff_base=0.001)
    with pytest.raises(AhaConnectionError):
        c.request("PUT", "epics/1", json={"epic": {"name": "x"}})
    assert len(srv.requests) == 3


def test_504_on_list_page_halves_per_page_and_yields_each_record_once(
    make_threaded_client: Any, threaded_server: HTTPServer
) -> None:
    # pages of 8: page 3 times out -> restart at per_page 4 from record 16 (page 5)
    pager = Pager(45, fail={(3, 8): 504, (7, 4): 504})
    threaded_server.expect_request(FEATURES).respond_with_handler(pager)
    c = make_threaded_client(max_concurrency=2)
    ids = [r["id"] for r in c.iter_records("features", per_page=8)]
    assert ids == [str(i) for i in range(45)]
    assert (5, 4) in pager.calls and (13, 2) in pager.calls
    assert c.stats.by_status.get(504) == 2


def test_504_shrink_with_odd_page_size_keeps_records_without_ids(
    make_client: Any, httpserver: HTTPServer
) -> None:
    rows = [{"n": i} for i in range(10)]  # no ids: exactness comes from offsets, not dedupe
    calls: list[tuple[int, int]] = []
    failed = set()

    def handler(request: Request) -> Response:
        page, per = int(request.args["page"]), int(request.args["per_page"])
        calls.append((page, per))
        if per == 3 and page == 2 and "x" not in failed:
            failed.add("x")
            return Response("", status=504)
        chunk = rows[(page - 1) * per : page * per]
        return Response(
            json.dumps(
                {
                    "things": chunk,
                    "pagination": {"total_pages": -(-10 // per), "current_page": page},
                }
            ),
            content_type="application/json",
        )

    httpserver.expect_request("/api/v1/things").respond_with_handler(handler)
    got = [r["n"] for r in make_client(max_concurrency=1).iter_records("things", per_page=3)]
    assert got == list(range(10))
    assert (4, 1) in calls and (3, 1) not in calls  # restart at record offset 3


def test_504_at_per_page_one_gives_up(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_request(FEATURES).respond_with_data("", 504)
    with pytest.raises(AhaTimeoutError):
        list(make_client(max_retries=1).iter_records("features", per_page=2))
