"""Every wait has a deadline and every response a size bound.

* ``timeout`` is a deadline for the whole attempt: a server dribbling the body (or the headers)
  one byte at a time cannot stretch one attempt beyond it.
* A request's waits share a budget: ``Retry-After: 1e9`` (or ``inf``) ends it with a typed error
  instead of 120 s waits retried five times.
* Bodies are read with a cap: an oversized 2xx raises a typed error after one request (not five),
  a gzip bomb is cut at the cap of decoded bytes, an error body is read only as far as needed.

The bounds asserted are several times the configured values (a loaded machine stays well
inside them); without the bounds these tests would run until the servers stop themselves.
"""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dagster_aha.client import (
    AhaAmbiguousWriteError,
    AhaClient,
    AhaResponseTooLargeError,
    AhaServerError,
    AhaTimeoutError,
    AhaWaitBudgetError,
)

from .conftest import FIGURES
from .rawserver import dribble, raw_server

TIMEOUT = 1.0
SERVER_LIFETIME = 20.0  # what an unbounded attempt would take (the server stops then)
BOUND = 8.0  # far above TIMEOUT, far below SERVER_LIFETIME

FAST = {"backoff_base": 0.001, "backoff_max": 0.005, "requests_per_second": 1e6}


def _record_deadline(elapsed: float, attempts: int = 1) -> None:
    FIGURES.add("deadlines_hit", attempts)
    FIGURES.counts["longest_attempt_ms"] = max(
        FIGURES.counts["longest_attempt_ms"], int(elapsed / attempts * 1000)
    )
    FIGURES.counts["deadline_timeout_ms"] = int(TIMEOUT * 1000)


def _client(url: str, **kw: object) -> AhaClient:
    return AhaClient(base_url=url, api_key="k-deadline", **{**FAST, **kw})  # type: ignore[arg-type]


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"


@pytest.mark.parametrize(
    "phase",
    ["body", "headers", "status_line"],
)
def test_a_dribbling_server_cannot_stretch_one_attempt_past_the_timeout(phase: str) -> None:
    def respond(conn: socket.socket, head: bytes) -> None:
        if phase == "body":
            conn.sendall(HEAD)
            dribble(server.stopping, conn, b"{" + b" " * 398 + b"}", 0.2)
        elif phase == "headers":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            dribble(server.stopping, conn, b"X-Slow: " + b"a" * 500 + b"\r\n\r\n{}", 0.2)
        else:
            dribble(server.stopping, conn, b"HTTP/1.1 200 OK\r\n\r\n{}", 0.5)

    with (
        raw_server(respond, SERVER_LIFETIME) as server,
        _client(server.url, timeout=TIMEOUT, max_retries=0) as client,
    ):
        start = time.monotonic()
        with pytest.raises(AhaTimeoutError, match="deadline"):
            client.request("GET", "me")
        elapsed = time.monotonic() - start
    _record_deadline(elapsed)
    assert elapsed < BOUND, f"one attempt took {elapsed:.1f} s with timeout={TIMEOUT}"


def test_a_dribbled_post_is_ambiguous_and_not_resent() -> None:
    def respond(conn: socket.socket, head: bytes) -> None:
        conn.sendall(HEAD)
        dribble(server.stopping, conn, b"{" + b" " * 398 + b"}", 0.2)

    with (
        raw_server(respond, SERVER_LIFETIME) as server,
        _client(server.url, timeout=TIMEOUT) as client,
    ):
        start = time.monotonic()
        with pytest.raises(AhaAmbiguousWriteError, match="deadline"):
            client.request("POST", "products/PRJ1/features", json={"feature": {"name": "x"}})
        elapsed = time.monotonic() - start
        assert client.stats.requests == 1
    _record_deadline(elapsed)
    assert elapsed < BOUND


def test_retried_gets_each_get_the_deadline_and_the_request_ends() -> None:
    def respond(conn: socket.socket, head: bytes) -> None:
        conn.sendall(HEAD)
        dribble(server.stopping, conn, b"{" + b" " * 398 + b"}", 0.2)

    with (
        raw_server(respond, SERVER_LIFETIME) as server,
        _client(server.url, timeout=0.5, max_retries=2) as client,
    ):
        start = time.monotonic()
        with pytest.raises(AhaTimeoutError, match="after 3 attempt"):
            client.request("GET", "me")
        elapsed = time.monotonic() - start
        assert client.stats.requests == 3
    _record_deadline(elapsed, attempts=3)
    assert elapsed < BOUND


@pytest.mark.parametrize("retry_after", ["1e9", "inf", "86400", "Wed, 21 Oct 2099 07:28:00 GMT"])
@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_beyond_the_wait_budget_raises_at_once(
    httpserver: HTTPServer, retry_after: str, status: int
) -> None:
    httpserver.expect_request("/api/v1/me").respond_with_data(
        '{"error": "slow down"}',
        status=status,
        headers={"Retry-After": retry_after},
        content_type="application/json",
    )
    with _client(httpserver.url_for("/").rstrip("/"), timeout=2.0) as client:
        start = time.monotonic()
        with pytest.raises(AhaWaitBudgetError) as info:
            client.request("GET", "me")
        elapsed = time.monotonic() - start
        assert client.stats.requests == 1
    FIGURES.add("wait_budgets_hit")
    err = info.value
    assert err.status == status and err.budget == client.wait_budget == 300.0
    assert "wait budget" in str(err) and err.requested is not None and err.requested > 300
    assert elapsed < BOUND


def test_the_wait_budget_bounds_many_short_waits(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/me").respond_with_data(
        "{}", status=503, headers={"Retry-After": "0.2"}, content_type="application/json"
    )
    with _client(
        httpserver.url_for("/").rstrip("/"), wait_budget=0.5, max_retries=50, backoff_max=1.0
    ) as client:
        with pytest.raises(AhaWaitBudgetError) as info:
            client.request("GET", "me")
        assert client.stats.requests == 3  # waited 0.2 + 0.2; a third wait would not fit
    FIGURES.add("wait_budgets_hit")
    assert info.value.waited == pytest.approx(0.4, abs=0.05)


def test_wait_budget_and_timeout_are_validated() -> None:
    for bad in ({"wait_budget": -1}, {"wait_budget": float("inf")}, {"timeout": float("inf")}):
        with pytest.raises(ValueError):
            _client("http://127.0.0.1:1", **bad)
    with pytest.raises(ValueError, match="max_response_bytes"):
        _client("http://127.0.0.1:1", max_response_bytes=10)


# -- size caps ---------------------------------------------------------------------------------

MiB = 2**20


def _record_cap(offered: int, read: int) -> None:
    FIGURES.add("responses_capped")
    FIGURES.add("bytes_refused", offered)
    FIGURES.add("bytes_read_when_capped", read)


def test_an_oversized_page_raises_once_with_a_typed_error(httpserver: HTTPServer) -> None:
    body = b'{"features": [' + b'{"id": "1", "name": "' + b"x" * (3 * MiB) + b'"}]}'
    httpserver.expect_request("/api/v1/features").respond_with_data(
        body, content_type="application/json"
    )
    with _client(httpserver.url_for("/").rstrip("/"), max_response_bytes=MiB) as client:
        with pytest.raises(AhaResponseTooLargeError) as info:
            list(client.iter_records("features"))
        assert client.stats.requests == 1  # not retried: the page would be as large again
    assert info.value.limit == MiB and info.value.size == len(body)
    assert "max_response_bytes" in str(info.value)
    _record_cap(len(body), 0)


def _streamed(total: int, sent: list[int], chunk: bytes = b" " * 65536) -> Iterator[bytes]:
    yield b'{"features": [], "pad": "'
    while sent[0] < total:
        sent[0] += len(chunk)
        yield chunk
    yield b'"}'


def test_a_streamed_body_without_length_is_cut_at_the_cap(httpserver: HTTPServer) -> None:
    sent = [0]
    total = 64 * MiB

    def handler(request: Request) -> Response:
        return Response(_streamed(total, sent), content_type="application/json")

    httpserver.expect_request("/api/v1/features").respond_with_handler(handler)
    with _client(httpserver.url_for("/").rstrip("/"), max_response_bytes=MiB) as client:
        with pytest.raises(AhaResponseTooLargeError):
            client.request("GET", "features")
        assert client.stats.requests == 1
    # socket buffers hold a few MiB at most: the 64 MiB were never produced, let alone read
    assert sent[0] < 16 * MiB
    _record_cap(total, sent[0])


def test_a_gzip_bomb_is_cut_at_the_cap_of_decoded_bytes(httpserver: HTTPServer) -> None:
    decoded = 32 * MiB
    bomb = gzip.compress(b'{"features": [], "pad": "' + b"0" * decoded + b'"}', 9)
    httpserver.expect_request("/api/v1/features").respond_with_data(
        bomb, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    with (
        _client(httpserver.url_for("/").rstrip("/"), max_response_bytes=2 * MiB) as client,
        pytest.raises(AhaResponseTooLargeError),
    ):
        client.request("GET", "features")
    _record_cap(decoded, 2 * MiB)


def test_an_oversized_error_body_is_read_only_for_its_message(httpserver: HTTPServer) -> None:
    sent = [0]

    def handler(request: Request) -> Response:
        return Response(_streamed(64 * MiB, sent), status=500, content_type="text/plain")

    httpserver.expect_request("/api/v1/me").respond_with_handler(handler)
    with (
        _client(httpserver.url_for("/").rstrip("/"), max_retries=1) as client,
        pytest.raises(AhaServerError) as info,
    ):
        client.request("GET", "me")
    assert len(str(info.value)) < 2000
    assert sent[0] < 16 * MiB
    _record_cap(64 * MiB, sent[0])


def test_the_default_cap_is_well_above_a_full_aha_page() -> None:
    client = _client("http://127.0.0.1:1")
    # 200 records with fields=* are a few MiB; the default leaves an order of magnitude
    assert client.max_response_bytes == 64 * MiB
