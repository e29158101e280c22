""":class:`AhaSandbox`: a threaded werkzeug server speaking Aha! API v1.

One request goes through ``AhaSandbox._wsgi``: latency, the fault plan (``faults.py``), the
rate limiter (``ratelimit.py``), authentication, then ``http.dispatch`` to the route a kind
module registered (``kinds/<kind>.py``); every request is logged (:class:`RequestRecord`)."""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import random
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from werkzeug.serving import BaseWSGIServer, make_server

from dagster_aha.testing.connection import DropConnection, KeepAliveHandler
from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.faults import (
    COMMIT_THEN_STATUS,
    LATE_COMMIT_STATUS,
    UNPARSEABLE_2XX,
    Fault,
    FaultPlan,
    unparseable_body,
)
from dagster_aha.testing.http import Response, dispatch, error_response
from dagster_aha.testing.ratelimit import RateLimiter
from dagster_aha.testing.state import SandboxState

if TYPE_CHECKING:
    from dagster_aha.client import AhaClient
    from dagster_aha.resource import AhaResource

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


@dataclass(frozen=True)
class SandboxStats:
    """Counters since start (or the last :meth:`AhaSandbox.clear_requests`)."""

    total: int
    by_status: dict[int, int]
    rate_limited: int
    faults_injected: dict[str, int]
    connections_dropped: int = 0


# ---------------------------------------------------------------------------------- sandbox
class AhaSandbox:
    """A stateful local Aha! API v1 simulator (threaded HTTP server on 127.0.0.1).

    See ARCHITECTURE.md ("Sandbox"). ``time_scale`` divides the rate-limit window lengths
    (``time_scale=10``: a 0.1 s "second" and a 6 s "minute"); ``data`` is a snapshot
    (a path written by :meth:`dump` or the dict it contains) to start from instead of the
    seeded data. ``request_log_limit`` bounds :attr:`requests` (oldest entries are dropped;
    :attr:`stats` still counts every request); ``None`` keeps everything.
    """

    def __init__(
        self,
        *,
        api_key: str = "sandbox-key",
        seed: int = 0,
        products: int = 2,
        releases_per_product: int = 3,
        features_per_release: int = 40,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        requests_per_second: int = 20,
        requests_per_minute: int = 300,
        enforce_rate_limits: bool = True,
        faults: list[Fault] | None = None,
        time_scale: float = 1.0,
        port: int = 0,
        data: str | os.PathLike[str] | dict[str, Any] | None = None,
        request_log_limit: int | None = 100_000,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        snapshot: dict[str, Any] | None = (
            json.loads(Path(data).read_text("utf-8"))
            if isinstance(data, (str, os.PathLike))
            else data
        )
        self._api_key = api_key
        self.seed = seed
        self.latency = float(latency)
        self.latency_jitter = float(latency_jitter)
        self.requests_per_second = requests_per_second
        self.requests_per_minute = requests_per_minute
        self.enforce_rate_limits = enforce_rate_limits
        self.time_scale = float(time_scale)
        self.port = port
        self.state = SandboxState(
            seed=seed,
            products=products,
            releases_per_product=releases_per_product,
            features_per_release=features_per_release,
            data=snapshot,
        )
        self.limiter = RateLimiter(
            requests_per_second,
            requests_per_minute,
            time_scale=time_scale,
            enforce=enforce_rate_limits,
        )
        self._faults = FaultPlan(list(faults or []), seed)
        self._jitter_rng = random.Random(f"latency:{seed}")
        self._log_lock = threading.Lock()
        self._log: deque[RequestRecord] = deque(maxlen=request_log_limit)
        self._total = 0
        self._by_status: Counter[int] = Counter()
        self._faults_injected: Counter[str] = Counter()
        self._dropped = 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._auth_header = f"Bearer {api_key}".encode()

    # -- lifecycle ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"AhaSandbox({where})"

    def start(self) -> AhaSandbox:
        if self._server is not None:
            return self
        server = make_server(
            "127.0.0.1", self.port, self._wsgi, threaded=True, request_handler=KeepAliveHandler
        )
        server.daemon_threads = True  # type: ignore[attr-defined]
        server.aha_connections = set()  # type: ignore[attr-defined]
        self._server = server
        self.port = server.port
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"aha-sandbox-{server.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join(timeout=5)
        server.server_close()
        # close idle keep-alive connections so no request is served after stop()
        for conn in list(getattr(server, "aha_connections", ())):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server = None
        self._thread = None

    def __enter__(self) -> AhaSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the account root; the API is under ``/api/v1/``)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() or use `with`")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def api_key(self) -> str:
        return self._api_key

    # -- inspection --------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return list(self._log)

    @property
    def stats(self) -> SandboxStats:
        with self._log_lock:
            return SandboxStats(
                total=self._total,
                by_status=dict(self._by_status),
                rate_limited=self._by_status.get(429, 0),
                faults_injected=dict(self._faults_injected),
                connections_dropped=self._dropped,
            )

    def clear_requests(self) -> None:
        """Empty the request log and the counters of :attr:`stats`."""
        with self._log_lock:
            self._log.clear()
            self._total = 0
            self._by_status.clear()
            self._faults_injected.clear()
            self._dropped = 0

    def set_faults(self, faults: list[Fault] | None) -> None:
        """Replace the fault plan (counters and RNG restart from the seed)."""
        self._faults = FaultPlan(list(faults or []), self.seed)

    # -- snapshots ---------------------------------------------------------------------------
    def dump(self, path: str | os.PathLike[str]) -> None:
        """Write a JSON snapshot of the state (records + id/reference counters)."""
        Path(path).write_text(json.dumps(self.state.to_data(), indent=1), "utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str], **kwargs: Any) -> AhaSandbox:
        """A (not yet started) sandbox whose state is the snapshot at ``path``."""
        return cls(data=path, **kwargs)

    # -- clients -----------------------------------------------------------------------------
    def _rate_limit_kwargs(self) -> dict[str, float]:
        """Client limits matching the sandbox: its windows (and time scale), or none."""
        if not self.enforce_rate_limits:
            return {"requests_per_second": 1_000_000, "requests_per_minute": 60_000_000}
        return {
            "requests_per_second": self.requests_per_second,
            "requests_per_minute": self.requests_per_minute,
            "time_scale": self.time_scale,
        }

    def client(self, **overrides: Any) -> AhaClient:
        """An :class:`~dagster_aha.client.AhaClient` pointed at this sandbox with fast,
        test-friendly defaults (short timeout and backoff; limits matching the sandbox's, with
        the client's windows compressed by the same ``time_scale``)."""
        from dagster_aha.client import AhaClient

        kwargs: dict[str, Any] = {
            "base_url": self.url,
            "api_key": self.api_key,
            "timeout": 10.0,
            "backoff_base": 0.01,
            "backoff_max": 0.2,
            **self._rate_limit_kwargs(),
        }
        kwargs.update(overrides)
        return AhaClient(**kwargs)

    def resource(self, **overrides: Any) -> AhaResource:
        """An :class:`~dagster_aha.resource.AhaResource` pointed at this sandbox."""
        from dagster_aha.resource import AhaResource

        kwargs: dict[str, Any] = {
            "base_url": self.url,
            "api_key": self.api_key,
            "timeout": 10.0,
            "backoff_base": 0.01,
            "backoff_max": 0.2,
            **self._rate_limit_kwargs(),
        }
        kwargs.update(overrides)
        return AhaResource(**kwargs)

    # -- request handling ----------------------------------------------------------------------
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
            return dispatch(self, method, path, query, body)
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


__all__ = ["AhaSandbox", "RequestRecord", "SandboxStats"]
