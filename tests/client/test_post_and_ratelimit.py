"""POST safety (7), reactive rate limiting (5: 429s), secrets in logs."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from dagster_aha import (
    AhaAmbiguousWriteError,
    AhaClient,
    AhaConnectionError,
    AhaError,
    AhaRateLimitError,
    AhaServerError,
)
from dagster_aha.client.ratelimit import parse_reset

API_KEY = "sk-test-SECRET-0123456789abcdef"


def _free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# 7. POST is never retried blindly ---
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_post_not_retried_on_5xx(make_client: Any, httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/api/v1/releases/R-1/features").respond_with_data("x", status)
    c = make_client()
    with pytest.raises(AhaError) as ei:
        c.request("POST", "releases/R-1/features", json={"feature": {"name": "n"}})
    assert ei.value.status == status
    assert len(httpserver.log) == 1
    # a gateway's 502/504 leaves the create's outcome unknown; Aha!'s own 500/503 is a failure
    assert isinstance(ei.value, AhaAmbiguousWriteError) == (status in (502, 504))


def test_post_retried_on_429(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/api/v1/teams", method="POST").respond_with_data(
        "", 429, headers={"Retry-After": "0"}
    )
    httpserver.expect_ordered_request("/api/v1/teams", method="POST").respond_with_json(
        {"team": {"id": "1"}}
    )
    c = make_client()
    assert c.request("POST", "teams", json={"team": {"name": "t"}}) == {"team": {"id": "1"}}
    assert c.stats.rate_limited == 1 and c.stats.retries == 1


def test_post_retried_when_connection_never_established() -> None:
    c = AhaClient(
        api_key=API_KEY,
        base_url=f"http://127.0.0.1:{_free_port()}",
        max_retries=2,
        backoff_base=0.001,
    )
    with pytest.raises(AhaConnectionError):
        c.request("POST", "teams", json={"team": {"name": "t"}})
    assert c.stats.requests == 3  # refused before sending: safe to retry


def test_post_connect_then_success(
    make_client: Any, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests
    import urllib3

    httpserver.expect_request("/api/v1/teams").respond_with_json({"team": {"id": "9"}})
    c = make_client()
    real = c._session.request
    calls = {"n": 0}

    def flaky(*a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            inner = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
            raise requests.exceptions.ConnectionError(
                urllib3.exceptions.MaxRetryError(None, "/api/v1/teams", inner)  # type: ignore[arg-type]
            )
        return real(*a, **kw)

    monkeypatch.setattr(c._session, "request", flaky)
    assert c.request("POST", "teams", json={"team": {}}) == {"team": {"id": "9"}}
    assert calls["n"] == 2


def test_post_read_timeout_is_ambiguous(raw_server: Any) -> None:
    srv = raw_server("hang", hang=1.0)
    c = AhaClient(api_key=API_KEY, base_url=srv.url, max_retries=5, timeout=0.2)
    with pytest.raises(AhaAmbiguousWriteError) as ei:
        c.request("POST", "releases/R-1/features", json={"feature": {"name": "n"}})
    assert len(srv.requests) == 1
    assert "may or may not" in str(ei.value) and ei.value.method == "POST"
    assert API_KEY not in str(ei.value)


@pytest.mark.parametrize("mode", ["reset", "close"])
def test_post_reset_after_sending_is_ambiguous(raw_server: Any, mode: str) -> None:
    srv = raw_server(mode)
    c = AhaClient(api_key=API_KEY, base_url=srv.url, max_retries=5)
    with pytest.raises(AhaAmbiguousWriteError):
        c.request("POST", "teams", json={"team": {"name": "t"}})
    assert len(srv.requests) == 1


def test_classify_chunked_encoding_error_is_ambiguous(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    c = make_client()

    def boom(*a: Any, **kw: Any) -> Any:
        raise requests.exceptions.ChunkedEncodingError("Connection broken")

    monkeypatch.setattr(c._session, "request", boom)
    with pytest.raises(AhaAmbiguousWriteError):
        c.request("POST", "teams", json={})
    with pytest.raises(AhaConnectionError):
        c.request("GET", "teams")  # GET: retried, then a connection error
    assert c.stats.retries == 5


# 5. reactive rate limiting ---
def test_429_waits_for_epoch_reset_then_retries(make_client: Any, httpserver: HTTPServer) -> None:
    reset = time.time() + 0.4
    httpserver.expect_ordered_request("/api/v1/me").respond_with_data(
        "",
        429,
        headers={
            "X-Ratelimit-Limit": "300",
            "X-Ratelimit-Remaining": "0",
            "X-Ratelimit-Reset": f"{reset:.3f}",
        },
    )
    httpserver.expect_ordered_request("/api/v1/me").respond_with_json({"user": {"id": "1"}})
    c = make_client()
    t0 = time.time()
    c.me()
    assert time.time() >= reset - 0.02
    assert time.time() - t0 < 1.5
    assert c.stats.rate_limited == 1


@pytest.mark.parametrize("header", [{"Retry-After": "0.3"}, {"X-Ratelimit-Reset": "0.3"}])
def test_429_relative_waits(make_client: Any, httpserver: HTTPServer, header: dict) -> None:
    httpserver.expect_ordered_request("/api/v1/me").respond_with_data("", 429, headers=header)
    httpserver.expect_ordered_request("/api/v1/me").respond_with_json({"user": {"id": "1"}})
    t0 = time.monotonic()
    make_client().me()
    assert 0.28 <= time.monotonic() - t0 < 1.5


def test_429_budget_then_rate_limit_error(
    make_client: Any, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/api/v1/me").respond_with_json(
        {"error": "Rate limit exceeded"}, status=429, headers={"Retry-After": "0"}
    )
    c = make_client(max_retries=3)
    with (
        caplog.at_level(logging.INFO, logger="dagster_aha"),
        pytest.raises(AhaRateLimitError) as ei,
    ):
        c.me()
    assert len(httpserver.log) == 4 and c.stats.rate_limited == 4
    assert ei.value.status == 429 and "Rate limit exceeded" in str(ei.value)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("dagster_aha")]
    assert len(lines) == 3 and all("429" in m and "waiting" in m for m in lines)


def test_429_without_headers_uses_backoff(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/api/v1/me").respond_with_data("", 429)
    httpserver.expect_ordered_request("/api/v1/me").respond_with_json({"user": {"id": "1"}})
    assert make_client().me() == {"id": "1"}


def test_parse_reset_forms() -> None:
    now = 1_700_000_000.0
    assert parse_reset("1700000003", now) == pytest.approx(3.0)
    assert parse_reset("1700000001.5", now) == pytest.approx(1.5)
    assert parse_reset("2", now) == 2.0
    assert parse_reset("1699999990", now) == 0.0  # in the past
    assert parse_reset("9999999999", now) == 120.0  # capped
    assert parse_reset("soon", now) is None and parse_reset(None, now) is None


# secrets ---
def test_key_never_in_logs_errors_or_repr(
    make_client: Any, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request(re.compile(".*")).respond_with_data(
        f"<html>echo {API_KEY[:4]}</html>", 500
    )
    c = make_client(max_retries=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(AhaServerError) as ei:
        c.request("PUT", "features/1", json={"feature": {"description": "BODY-TEXT"}})
    text = caplog.text + str(ei.value) + repr(ei.value) + repr(c) + str(c)
    assert API_KEY not in text
    assert "BODY-TEXT" not in caplog.text  # no request bodies in logs
    assert (ei.value.url or "").startswith(httpserver.url_for("/api/v1/features/1"))
