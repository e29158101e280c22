"""Little's law in-flight target, speculative next pages, and the wait after a 429."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dagster_aha.client import AhaClient
from dagster_aha.client.concurrency import InFlightTarget
from dagster_aha.client.prefetch import speculative_last_page
from dagster_aha.testing import AhaSandbox, Fault


def test_in_flight_target_follows_rate_times_round_trip() -> None:
    t = InFlightTarget(20.0, 64, window_budget=20)
    assert t.target(None) == 22  # unknown round trip: one window's budget (+2)
    assert t.target(0.1) == 22  # a window's burst of 20 must be ready, though 20 x 0.1 = 2
    assert t.target(0.3) == 22
    assert t.target(1.0) == 27  # ceil(20 x 1.0 x 1.25) + 2
    assert t.target(2.0) == 52
    assert t.target(5.0) == 64  # capped by max_concurrency
    assert InFlightTarget(20.0, 4).target(1.0) == 4
    assert InFlightTarget(20.0, 1).target(0.001) == 1
    assert InFlightTarget(200.0, 64, window_budget=20).target(0.1) == 27  # 10x compressed


def test_speculative_last_page_is_bounded_by_the_hint_and_the_budget() -> None:
    assert speculative_last_page(None, 20) == 1
    assert speculative_last_page(1, 20) == 1
    assert speculative_last_page(6, 20) == 6
    assert speculative_last_page(300, 20) == 20
    assert speculative_last_page(300, 1) == 1


def _page_calls(aha: AhaSandbox) -> list[int]:
    return [int(r.query["page"]) for r in aha.requests if r.path == "features"]


@pytest.mark.parametrize("change", ["shrunk", "grown", "same"])
def test_second_read_speculates_and_is_exact(change: str) -> None:
    with AhaSandbox(
        products=1, releases_per_product=1, features_per_release=30, enforce_rate_limits=False
    ) as aha:
        client = aha.client()
        first = [r["id"] for r in client.iter_records("features", per_page=5)]
        assert len(first) == 30 and sorted(_page_calls(aha)) == [1, 2, 3, 4, 5, 6]
        ids = [str(r["id"]) for r in aha.state.snapshot("features")]
        if change == "shrunk":  # 30 -> 8 records: 2 pages
            for rid in ids[8:]:
                aha.state.delete_record("features", rid)
        elif change == "grown":
            with aha.client() as writer:
                release = aha.state.records("releases")[0]
                for i in range(7):
                    writer.request(
                        "POST",
                        f"releases/{release['id']}/features",
                        json={"feature": {"name": f"new {i}"}},
                    )
        aha.clear_requests()
        truth = {str(r["id"]) for r in aha.state.snapshot("features")}
        second = [str(r["id"]) for r in client.iter_records("features", per_page=5)]
        assert len(second) == len(set(second)) == len(truth)
        assert set(second) == truth
        pages = sorted(_page_calls(aha))
        if change == "shrunk":  # pages 3..6 started before page 1 said 2: at most 4 wasted
            assert pages[:2] == [1, 2] and len(pages) == len(set(pages)) and pages[-1] <= 6
        elif change == "grown":  # 37 records: the 7th and 8th pages after page 1's answer
            assert pages == [1, 2, 3, 4, 5, 6, 7, 8]
        else:
            assert pages == [1, 2, 3, 4, 5, 6]


def _two_record_page(page: int, total_pages: int) -> Response:
    """Page ``page`` of a ``features`` list of ``total_pages`` pages of 2 records."""
    body: dict[str, Any] = {
        "features": [{"id": f"{page}-{i}"} for i in range(2)],
        "pagination": {
            "total_records": 2 * total_pages,
            "total_pages": total_pages,
            "current_page": page,
        },
    }
    return Response(json.dumps(body), content_type="application/json")


def _unlimited_client(server: HTTPServer, handler: Callable[[Request], Response]) -> AhaClient:
    """A client of ``server`` (answering ``features`` with ``handler``) that is never paced."""
    server.expect_request("/api/v1/features").respond_with_handler(handler)
    return AhaClient(
        base_url=server.url_for("/").rstrip("/"),
        api_key="k",
        requests_per_second=1000,
        requests_per_minute=100_000,
    )


def test_speculative_pages_go_out_before_page_one_answers(threaded_server: HTTPServer) -> None:
    """Page 1 is held until page 2 arrives (or 2 s pass): only speculation lets it arrive."""
    page2 = threading.Event()
    held: list[bool] = []

    def handler(req: Request) -> Response:
        page = int(req.args.get("page", "1"))
        if page == 1:
            held.append(page2.wait(2.0))
        else:
            page2.set()
        return _two_record_page(page, 3)

    client = _unlimited_client(threaded_server, handler)
    with client:
        assert len(list(client.iter_records("features", per_page=2))) == 6
        assert held == [False]  # the first read cannot know page 2 exists
        held.clear()
        page2.clear()
        assert len(list(client.iter_records("features", per_page=2))) == 6
        assert held == [True]


def test_pages_after_the_speculative_ones_start_while_page_one_is_out(
    threaded_server: HTTPServer,
) -> None:
    """The previous read had 2 pages, the list now has 5: page 2's answer (total_pages 5)
    starts pages 3-5 although page 1 is still held; no page beyond the end is asked for."""
    page1_released = threading.Event()
    seen: list[int] = []
    held: list[bool] = []
    lock = threading.Lock()

    def handler(req: Request) -> Response:
        page = int(req.args.get("page", "1"))
        with lock:
            seen.append(page)
            if {3, 4, 5} <= set(seen):
                page1_released.set()
        if page == 1:
            held.append(page1_released.wait(3.0))
        return _two_record_page(page, 5)

    client = _unlimited_client(threaded_server, handler)
    with client:
        ids = [r["id"] for r in client.iter_records("features", per_page=2, expected_pages=2)]
    assert ids == [f"{p}-{i}" for p in range(1, 6) for i in range(2)]  # in order, complete
    assert held == [True]  # pages 3-5 were asked for while page 1 was held
    assert sorted(seen) == [1, 2, 3, 4, 5]  # each page once, none beyond the end


def test_expected_pages_from_an_earlier_run_speculates_in_a_fresh_process(
    threaded_server: HTTPServer,
) -> None:
    """A caller that keeps ``report.total_pages`` with its cursor (a new process each run)
    passes it back: pages 2..k go out before page 1 answers; a stale count wastes only the
    pages beyond the end, and the records are exact."""
    page2 = threading.Event()
    held: list[bool] = []
    asked: list[int] = []

    def handler(req: Request) -> Response:
        page = int(req.args.get("page", "1"))
        asked.append(page)
        if page == 1:
            held.append(page2.wait(2.0))
        else:
            page2.set()
        rows = [{"id": f"{page}-{i}"} for i in range(2)] if page <= 3 else []
        body: dict[str, Any] = {
            "features": rows,
            "pagination": {"total_records": 6, "total_pages": 3, "current_page": page},
        }
        return Response(__import__("json").dumps(body), content_type="application/json")

    threaded_server.expect_request("/api/v1/features").respond_with_handler(handler)
    from dagster_aha.client import AhaClient, ListReadReport, reset_shared_limiters

    reset_shared_limiters()  # nothing remembered: as in a new process
    client = AhaClient(
        base_url=threaded_server.url_for("/").rstrip("/"),
        api_key="k",
        requests_per_second=1000,
        requests_per_minute=100_000,
    )
    report = ListReadReport()
    with client:
        ids = [r["id"] for r in client.iter_records("features", per_page=2, report=report)]
    assert sorted(ids) == sorted(f"{p}-{i}" for p in (1, 2, 3) for i in range(2))
    assert held == [False] and report.total_pages == 3
    reset_shared_limiters()
    held.clear()
    asked.clear()
    page2.clear()
    client = AhaClient(
        base_url=threaded_server.url_for("/").rstrip("/"),
        api_key="k",
        requests_per_second=1000,
        requests_per_minute=100_000,
    )
    with client:  # kept as 5 pages (stale): pages 4 and 5 may go out, and are dropped
        ids = [r["id"] for r in client.iter_records("features", per_page=2, expected_pages=5)]
    assert sorted(ids) == sorted(f"{p}-{i}" for p in (1, 2, 3) for i in range(2))
    assert held == [True]
    assert {1, 2, 3} <= set(asked) <= {1, 2, 3, 4, 5} and len(asked) == len(set(asked))
    reset_shared_limiters()


def test_a_lone_client_waits_for_the_servers_reset_without_jitter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dagster_aha.client.sending as client_mod

    monkeypatch.setattr(client_mod.random, "uniform", lambda a, b: b)  # jitter would be maximal
    with AhaSandbox(
        products=1, releases_per_product=1, features_per_release=2, enforce_rate_limits=False
    ) as aha:
        aha.set_faults([Fault("429", path="features", times=1)])
        client = aha.client(backoff_base=5.0, backoff_max=30.0)
        waits: list[float] = []
        real = client.rate_limiter.block_until
        monkeypatch.setattr(
            client.rate_limiter, "block_until", lambda s: (waits.append(s), real(s))[1]
        )
        assert len(list(client.iter_records("features"))) == 2
    # the injected 429's reset is one second away, rounded up to a whole epoch second: alone,
    # that is the whole wait (with jitter it would have been at least backoff_base = 5 s more)
    assert len(waits) == 1 and waits[0] <= 2.01


def test_lead_needs_enough_round_trips_and_widens_after_a_429() -> None:
    """The assumed send-to-admission delay: 0 with few samples, then the shortest round trip
    minus a margin, and a wider margin after a 429 (deterministic fake clock)."""
    import random

    from dagster_aha.client import RateLimiter

    now = [1000.0]
    lim = RateLimiter(
        1000, 100_000, clock=lambda: now[0], sleep=lambda s: None, rng=random.Random(0)
    )
    for i in range(10):
        lim.acquire()
        now[0] += 1.0  # every round trip is exactly 1 s
        lim.update_from_headers({}, latency=1.0)
        expected = 0.0 if i + 1 < RateLimiter.LEAD_SAMPLES else 1.0 - RateLimiter.ADMISSION_MARGIN
        assert lim.lead == pytest.approx(expected)
    lim.block_until(0.0)
    assert lim.lead == pytest.approx(1.0 - 2 * RateLimiter.ADMISSION_MARGIN)
    now[0] += 61.0  # a minute-window later the margin is back to normal
    assert lim.lead == pytest.approx(1.0 - RateLimiter.ADMISSION_MARGIN)


def test_round_trips_exclude_connection_set_up_and_the_body(threaded_server: HTTPServer) -> None:
    """The limiter's round trip runs from the request on a connected socket to the response
    headers: a slow new connection (TLS in real life) or a slow body read would otherwise make
    round trips look longer than a re-used connection's, and the lead taken from them unsafe."""
    import time

    from dagster_aha.client import AhaClient
    from dagster_aha.client import transport as transport_mod
    from dagster_aha.client.ratelimit import RateLimiter

    def handler(req: Request) -> Response:
        return Response('{"ok": true}', content_type="application/json")

    threaded_server.expect_request("/api/v1/ping").respond_with_handler(handler)
    real_connect = transport_mod._DeadlineConnection.connect

    def slow_connect(self: Any) -> None:
        time.sleep(0.3)  # a slow TCP/TLS set-up
        real_connect(self)

    samples: list[float] = []
    lim = RateLimiter(1000, 100_000)
    real_update = lim.update_from_headers

    def spy(headers: Any, latency: float | None = None, **kw: Any) -> None:
        if latency is not None:
            samples.append(latency)
        real_update(headers, latency, **kw)

    lim.update_from_headers = spy  # type: ignore[method-assign]
    client = AhaClient(
        base_url=threaded_server.url_for("/").rstrip("/"), api_key="k", rate_limiter=lim
    )
    transport_mod._DeadlineConnection.connect = slow_connect  # type: ignore[method-assign]
    try:
        with client:
            t0 = time.monotonic()
            client.request("GET", "ping")  # a new connection: 0.3 s of set-up
            first = time.monotonic() - t0
    finally:
        transport_mod._DeadlineConnection.connect = real_connect  # type: ignore[method-assign]
    assert first >= 0.3
    assert samples and samples[0] < 0.25  # the set-up is not part of the round trip
