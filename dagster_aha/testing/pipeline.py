"""The request pipeline of :class:`~dagster_aha.testing.server.AhaSandbox` (a mixin).

One request goes through ``_wsgi``: latency (with its jitter, before admission), the fault
plan (``faults.py``), the rate limiter (``ratelimit.py``), authentication, then
``http.dispatch`` to the route a kind module registered (``kinds/<kind>.py``); every request
is logged as a :class:`RequestRecord`.
"""

from __future__ import annotations

import hmac
import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

from dagster_aha.testing.connection import DropConnection
from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.faults import (
    COMMIT_THEN_STATUS,
    LATE_COMMIT_STATUS,
    READ_FAULT_KINDS,
    UNPARSEABLE_2XX,
    Fault,
    FaultPlan,
    rewrite_list,
    rewrite_query,
    unparseable_body,
)
from dagster_aha.testing.http import Response, dispatch, error_response
from dagster_aha.testing.ratelimit import RateLimiter

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox

__all__ = ["API_PREFIX", "RequestPipeline", "RequestRecord"]

API_PREFIX = "/api/v1/"

_STATUS_TEXT = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_HTML_ERROR = (
    b"<!DOCTYPE html>\n<html><head><title>We're sorry, but something went wrong (500)</title>"
    b'</head><body><div class="dialog"><h1>We\'re sorry, but something went wrong.</h1>'
    b"<p>If you are the application owner check the logs for more information.</p></div>"
    b"</body></html>\n"
)


def _reject_constant(name: str) -> Any:
    """``NaN`` / ``Infinity`` are not JSON: a body holding them is malformed."""
    raise ValueError(f"{name} is not valid JSON")


@dataclass(frozen=True)
class RequestRecord:
    """One request the sandbox received.

    ``path`` is below ``/api/v1/`` (``"releases/PRJ1-R-1/features"``); ``raw_path`` is the
    full URL path. ``status`` is None when the connection was dropped (``reset_*`` faults).
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int | None
    time: float
    fault: str | None = None
    raw_path: str = ""


class RequestPipeline:
    """How the sandbox answers one request (its settings and parts, declared here)."""

    latency: float
    latency_jitter: float
    limiter: RateLimiter
    _faults: FaultPlan
    _jitter_rng: random.Random
    _log_lock: threading.Lock
    _log: deque[RequestRecord]
    _total: int
    _by_status: Counter[int]
    _faults_injected: Counter[str]
    _dropped: int
    _auth_header: bytes

    def _record(
        self,
        method: str,
        path: str,
        raw_path: str,
        query: dict[str, str],
        body: Any,
        status: int | None,
        t0: float,
        fault: str | None,
    ) -> None:
        entry = RequestRecord(method, path, query, body, status, t0, fault, raw_path)
        with self._log_lock:
            self._log.append(entry)
            self._total += 1
            if status is None:
                self._dropped += 1
            else:
                self._by_status[status] += 1
            if fault is not None:
                self._faults_injected[fault] += 1

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        t0 = time.time()
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        # WSGI hands the path over as latin-1-decoded bytes; URLs carry UTF-8
        raw_path = str(environ.get("PATH_INFO", "")).encode("latin-1").decode("utf-8", "replace")
        path = raw_path[len(API_PREFIX) :] if raw_path.startswith(API_PREFIX) else raw_path
        path = path.strip("/") if path != raw_path else raw_path
        query = dict(parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True))
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw_body = environ["wsgi.input"].read(length) if length > 0 else b""
        body: Any = None
        bad_json = False
        if raw_body:
            try:
                body = json.loads(raw_body, parse_constant=_reject_constant)
            except (ValueError, RecursionError):
                bad_json = True
                body = raw_body[:200].decode("utf-8", "replace")

        delay = self.latency
        if self.latency_jitter > 0:
            with self._log_lock:
                delay += self._jitter_rng.uniform(0.0, self.latency_jitter)
        if delay > 0:
            time.sleep(delay)

        per_page = None
        if "per_page" in query:
            try:
                per_page = int(query["per_page"])
            except ValueError:
                per_page = None
        fault = self._faults.pick(method, path, per_page)
        fkind = fault.kind if fault is not None else None
        if fault is not None and fault.sleep_seconds > 0:
            time.sleep(fault.sleep_seconds)
        if fkind == "reset_before":
            self._record(method, path, raw_path, query, body, None, t0, fkind)
            raise DropConnection

        if fkind in ("429", "500", "502", "503", "504", "html"):
            if fkind == "429":
                resp = error_response(429, "Rate limit exceeded")
                resp.headers.update(self.limiter.exhausted_headers())
            elif fkind == "html":
                resp = Response(500, _HTML_ERROR, "text/html; charset=utf-8")
                resp.headers.update(self.limiter.peek())
            else:
                status = int(fkind)
                resp = error_response(status, f"{_STATUS_TEXT[status]} (injected)")
                resp.headers.update(self.limiter.peek())
            return self._finish(
                start_response, resp, method, path, raw_path, query, body, t0, fkind
            )

        admitted, rl_headers = self.limiter.admit()
        if not admitted:
            resp = error_response(429, "Rate limit exceeded. Retry after X-Ratelimit-Reset.")
        elif fault is not None and fkind in LATE_COMMIT_STATUS:
            return self._commit_late(
                fault, start_response, environ, method, path, raw_path, query, body, t0, rl_headers
            )
        elif fkind in READ_FAULT_KINDS and method == "GET":
            resp = self._authorized(
                environ, method, path, raw_path, rewrite_query(fkind, query), body, bad_json
            )
            if resp.status == 200:
                resp = Response(
                    200, json.dumps(rewrite_list(fkind, json.loads(resp.body))).encode()
                )
        else:
            resp = self._authorized(environ, method, path, raw_path, query, body, bad_json)
        resp.headers.update(rl_headers)
        if admitted and fkind in COMMIT_THEN_STATUS:
            status = COMMIT_THEN_STATUS[fkind]  # applied above; the answer is an error
            resp = error_response(status, f"{_STATUS_TEXT[status]} (injected after the write)")
            resp.headers.update(rl_headers)
        elif admitted and fkind in UNPARSEABLE_2XX and 200 <= resp.status < 300:
            resp = Response(200, unparseable_body(fkind))
            resp.headers.update(rl_headers)

        if fkind == "reset_after":
            self._record(method, path, raw_path, query, body, None, t0, fkind)
            raise DropConnection
        if fkind == "malformed_json":
            full = resp.body or b'{"ok":true}'
            resp = Response(200, full[: max(1, len(full) // 2)])
            resp.headers.update(rl_headers)
        elif fkind == "slow":
            pass
        return self._finish(start_response, resp, method, path, raw_path, query, body, t0, fkind)

    def _commit_late(
        self,
        fault: Fault,
        start_response: Callable[..., Any],
        environ: dict[str, Any],
        method: str,
        path: str,
        raw_path: str,
        query: dict[str, str],
        body: Any,
        t0: float,
        rl_headers: dict[str, str],
    ) -> list[bytes]:
        """Answer now (504 or a dropped connection); apply the write ``commit_delay`` later."""
        auth_env = {"HTTP_AUTHORIZATION": environ.get("HTTP_AUTHORIZATION", "")}

        def commit() -> None:
            self._authorized(auth_env, method, path, raw_path, query, body, False)

        timer = threading.Timer(fault.commit_delay, commit)
        timer.daemon = True
        timer.start()
        status = LATE_COMMIT_STATUS[fault.kind]
        if status is None:
            self._record(method, path, raw_path, query, body, None, t0, fault.kind)
            raise DropConnection
        resp = error_response(status, f"{_STATUS_TEXT[status]} (injected; committing later)")
        resp.headers.update(rl_headers)
        return self._finish(
            start_response, resp, method, path, raw_path, query, body, t0, fault.kind
        )

    def _authorized(
        self,
        environ: dict[str, Any],
        method: str,
        path: str,
        raw_path: str,
        query: dict[str, str],
        body: Any,
        bad_json: bool,
    ) -> Response:
        auth = str(environ.get("HTTP_AUTHORIZATION", "")).encode()
        if not auth:
            return error_response(
                401, "Authentication required: send 'Authorization: Bearer <key>'"
            )
        if not hmac.compare_digest(auth, self._auth_header):
            return error_response(403, "Authentication information is incorrect")
        if not raw_path.startswith(API_PREFIX):
            return error_response(404, "Not found")
        if bad_json:
            return error_response(400, "Request body is not valid JSON")
        try:
            return dispatch(cast("AhaSandbox", self), method, path, query, body)
        except SandboxError as e:
            return error_response(e.status, e.message)

    def _finish(
        self,
        start_response: Callable[..., Any],
        resp: Response,
        method: str,
        path: str,
        raw_path: str,
        query: dict[str, str],
        body: Any,
        t0: float,
        fault: str | None,
    ) -> list[bytes]:
        self._record(method, path, raw_path, query, body, resp.status, t0, fault)
        headers = [(k, v) for k, v in resp.headers.items()]
        if resp.status != 204:
            headers.append(("Content-Type", resp.content_type))
            headers.append(("Content-Length", str(len(resp.body))))
        start_response(f"{resp.status} {_STATUS_TEXT.get(resp.status, 'Status')}", headers)
        return [resp.body] if resp.status != 204 else []
