"""The HTTP side of :class:`AhaSandbox`: a threaded werkzeug server speaking Aha! API v1."""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import os
import random
import re
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from dagster_aha.testing.faults import Fault, FaultPlan
from dagster_aha.testing.ratelimit import RateLimiter
from dagster_aha.testing.state import (
    COMPACT_KEYS,
    KINDS,
    TABLES,
    SandboxError,
    SandboxState,
)

if TYPE_CHECKING:
    from dagster_aha.client import AhaClient
    from dagster_aha.resource import AhaResource

API_PREFIX = "/api/v1/"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 200
PIVOT_DEFAULT_PER_PAGE = 100

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


class _DropConnection(BaseException):
    """Raised inside the WSGI app to abort the TCP connection without any response.

    A BaseException so werkzeug's ``except Exception`` (which would send a 500) lets it through
    to :class:`_Handler`.
    """


class _Handler(WSGIRequestHandler):
    """werkzeug's handler with HTTP/1.1 keep-alive and connection aborts.

    werkzeug's own ``run_wsgi`` closes every connection after one response; this one writes
    the (always fully buffered) body with a Content-Length and keeps the connection open, so
    a pooled client does not pay a TCP handshake and a thread start per request.
    """

    timeout = 30  # idle keep-alive connections give their thread back after 30 s

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tracker = getattr(self.server, "aha_connections", None)
        if tracker is not None:
            tracker.add(self.connection)

    def finish(self) -> None:
        tracker = getattr(self.server, "aha_connections", None)
        if tracker is not None:
            tracker.discard(self.connection)
        super().finish()

    def handle(self) -> None:
        try:
            super().handle()
        except _DropConnection:
            self.close_connection = True
            # RST instead of FIN: the client sees a reset / remote disconnect
            with contextlib.suppress(OSError):
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return lambda data: None

        try:
            body = b"".join(self.server.app(environ, start_response))  # type: ignore[attr-defined]
        except _DropConnection:
            raise
        except Exception:
            started[:] = ["500 Internal Server Error", [("Content-Type", "application/json")]]
            body = b'{"error":"Internal sandbox error"}'
            self.close_connection = True
        status, headers = started
        code, _, msg = status.partition(" ")
        self.send_response(int(code), msg)
        has_length = False
        for key, value in headers:
            self.send_header(key, value)
            has_length = has_length or key.lower() == "content-length"
        if not has_length and int(code) not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        if environ.get("wsgi.input_terminated"):
            self.close_connection = True  # chunked request bodies: don't try to reuse
        if self.close_connection:
            self.send_header("Connection", "close")
        # headers and body in one write (no small-packet / delayed-ACK stalls)
        self.wfile.write(self._header_bytes() + body)
        self.wfile.flush()

    def _header_bytes(self) -> bytes:
        buffered: list[bytes] = getattr(self, "_headers_buffer", [])
        data = b"".join(buffered) + b"\r\n"
        self._headers_buffer = []
        return data

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None  # keep the per-request path cheap and quiet

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):
            return None  # an idle keep-alive connection closing: routine, not an error
        super().log_error(format, *args)


class _Response:
    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self, status: int, body: bytes, content_type: str = "application/json; charset=utf-8"
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers: dict[str, str] = {}


def _json(status: int, payload: Any) -> _Response:
    return _Response(status, json.dumps(payload, separators=(",", ":")).encode())


def _error(status: int, message: str) -> _Response:
    return _json(status, {"error": message})


Handler = Callable[["AhaSandbox", dict[str, str], dict[str, str], Any], _Response]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def _route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    regex = re.compile(re.sub(r":(\w+)", r"(?P<\1>[^/]+)", pattern))

    def deco(fn: Handler) -> Handler:
        _ROUTES.append((method, regex, fn))
        return fn

    return deco


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    try:
        return int(params.get(name, default))
    except (TypeError, ValueError):
        return default


def _fields(params: dict[str, str]) -> list[str] | None:
    raw = params.get("fields")
    if not raw:
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]


def _shape(rec: dict[str, Any], fields: list[str] | None, compact: Iterable[str] | None) -> Any:
    if fields is None:
        return rec if compact is None else {k: rec[k] for k in compact if k in rec}
    if "*" in fields:
        return rec
    return {k: rec[k] for k in fields if k in rec}


def _list(kind: str, recs: list[dict[str, Any]], params: dict[str, str]) -> _Response:
    per_page = max(1, min(_int_param(params, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE))
    page = max(1, _int_param(params, "page", 1))
    total = len(recs)
    chunk = recs[(page - 1) * per_page : page * per_page]
    fields = _fields(params)
    compact = COMPACT_KEYS[kind]
    key = kind
    return _json(
        200,
        {
            key: [_shape(r, fields, compact) for r in chunk],
            "pagination": {
                "total_records": total,
                "total_pages": math.ceil(total / per_page),
                "current_page": page,
            },
        },
    )


def _detail(kind: str, rec: dict[str, Any], params: dict[str, str]) -> _Response:
    return _json(200, {KINDS[kind]: _shape(rec, _fields(params), None)})


def _unwrap(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise SandboxError(
            400, f"Request body must wrap the record under the {key!r} key: {{{key!r}: {{...}}}}"
        )
    return body[key]


def _list_route(kind: str, path: str, parent_kind: str | None, attr: str | None) -> None:
    def handler(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> _Response:
        where = None
        if parent_kind is not None and attr is not None:
            parent = sb.state.require(parent_kind, m["pid"])
            pid = parent["id"]
            if attr == "product_id":
                where = lambda r: r.get("product_id") == pid  # noqa: E731
            else:
                where = lambda r: isinstance(r.get(attr), dict) and r[attr]["id"] == pid  # noqa: E731
        return _list(kind, sb.state.select(kind, where=where, params=params), params)

    _route("GET", path)(handler)


def _detail_route(kind: str, path: str) -> None:
    def handler(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> _Response:
        return _detail(kind, sb.state.require(kind, m["id"]), params)

    _route("GET", path)(handler)


def _check_product(
    sb: AhaSandbox, rec: dict[str, Any], m: dict[str, str], product_scoped: bool
) -> None:
    if product_scoped and rec.get("product_id") != sb.state.require("products", m["pid"])["id"]:
        raise SandboxError(404, "Record not found")


def _update_route(kind: str, path: str, product_scoped: bool = False) -> None:
    def handler(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> _Response:
        changes = _unwrap(body, KINDS[kind])
        with sb.state.lock:
            rec = sb.state.require(kind, m["id"])
            _check_product(sb, rec, m, product_scoped)
            new = sb.state.update(kind, rec["id"], changes)
        return _detail(kind, new, params)

    _route("PUT", path)(handler)


def _delete_route(kind: str, path: str, product_scoped: bool = False) -> None:
    def handler(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> _Response:
        with sb.state.lock:
            rec = sb.state.require(kind, m["id"])
            _check_product(sb, rec, m, product_scoped)
            sb.state.delete(kind, rec["id"])
        return _Response(204, b"", "")

    _route("DELETE", path)(handler)


# ---------------------------------------------------------------------------------- routes
@_route("GET", "me")
def _me(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> _Response:
    return _json(200, {"user": sb.state.me()})


_list_route("products", "products", None, None)
_detail_route("products", "products/:id")
_list_route("releases", "products/:pid/releases", "products", "product_id")
_detail_route("releases", "releases/:id")
_list_route("features", "features", None, None)
_list_route("features", "products/:pid/features", "products", "product_id")
_list_route("features", "releases/:pid/features", "releases", "release")
_list_route("features", "epics/:pid/features", "epics", "epic")
_detail_route("features", "features/:id")
_list_route("epics", "epics", None, None)
_list_route("epics", "products/:pid/epics", "products", "product_id")
_list_route("epics", "releases/:pid/epics", "releases", "release")
_detail_route("epics", "epics/:id")
_list_route("ideas", "ideas", None, None)
_list_route("ideas", "products/:pid/ideas", "products", "product_id")
_detail_route("ideas", "ideas/:id")
_list_route("goals", "goals", None, None)
_list_route("goals", "products/:pid/goals", "products", "product_id")
_detail_route("goals", "goals/:id")
_list_route("initiatives", "initiatives", None, None)
_list_route("initiatives", "products/:pid/initiatives", "products", "product_id")
_detail_route("initiatives", "initiatives/:id")
_list_route("users", "users", None, None)
_detail_route("users", "users/:id")
_list_route("teams", "teams", None, None)
_list_route("teams", "products/:pid/teams", "products", "project")
_detail_route("teams", "teams/:id")
_detail_route("custom_object_records", "custom_object_records/:id")

_update_route("features", "features/:id")
_update_route("epics", "epics/:id")
_update_route("releases", "releases/:id")
_update_route("goals", "goals/:id")
_update_route("goals", "products/:pid/goals/:id", product_scoped=True)
_update_route("initiatives", "initiatives/:id")
_update_route("initiatives", "products/:pid/initiatives/:id", product_scoped=True)
_update_route("teams", "teams/:id")
_update_route("custom_object_records", "custom_object_records/:id")
_delete_route("features", "features/:id")
_delete_route("epics", "epics/:id")
_delete_route("goals", "products/:pid/goals/:id", product_scoped=True)
_delete_route("initiatives", "products/:pid/initiatives/:id", product_scoped=True)
_delete_route("teams", "teams/:id")
_delete_route("custom_object_records", "custom_object_records/:id")


@_route("GET", "products/:pid/custom_objects/:key/records")
def _records(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> _Response:
    prod = sb.state.require("products", m["pid"])
    if m["key"] not in TABLES:
        raise SandboxError(404, "Custom table not found")
    pid, key = prod["id"], m["key"]
    recs = sb.state.select(
        "custom_object_records",
        where=lambda r: r["product_id"] == pid and r["key"] == key,
        params=params,
    )
    return _list("custom_object_records", recs, params)


@_route("POST", "products/:pid/custom_objects/:key/records")
def _create_record(
    sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any
) -> _Response:
    data = _unwrap(body, "custom_object_record")
    prod = sb.state.require("products", m["pid"])
    if m["key"] not in TABLES:
        raise SandboxError(404, "Custom table not found")
    rec = sb.state.create("custom_object_records", data, parent=prod, table_key=m["key"])
    return _detail("custom_object_records", rec, params)


@_route("POST", "releases/:pid/features")
def _create_feature(
    sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any
) -> _Response:
    data = _unwrap(body, "feature")
    rel = sb.state.require("releases", m["pid"])
    return _detail("features", sb.state.create("features", data, parent=rel), params)


@_route("POST", "releases/:pid/epics")
def _create_epic(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> _Response:
    data = _unwrap(body, "epic")
    rel = sb.state.require("releases", m["pid"])
    return _detail("epics", sb.state.create("epics", data, parent=rel), params)


@_route("POST", "products/:pid/epics")
def _create_epic_default(
    sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any
) -> _Response:
    data = _unwrap(body, "epic")
    with sb.state.lock:
        rel = sb.state.default_release(sb.state.require("products", m["pid"]))
        return _detail("epics", sb.state.create("epics", data, parent=rel), params)


def _product_create(kind: str) -> None:
    def handler(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> _Response:
        data = _unwrap(body, KINDS[kind])
        prod = sb.state.require("products", m["pid"])
        return _detail(kind, sb.state.create(kind, data, parent=prod), params)

    _route("POST", f"products/:pid/{kind}")(handler)


_product_create("goals")
_product_create("initiatives")
_product_create("teams")


@_route("POST", "teams")
def _create_team(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> _Response:
    data = _unwrap(body, "team")
    return _detail("teams", sb.state.create("teams", data), params)


@_route("GET", "bookmarks/custom_pivots/:id")
def _pivot(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> _Response:
    view = params.get("view", "list") or "list"
    if view not in ("list", "pivot"):
        raise SandboxError(400, "view must be 'list' or 'pivot'")
    per_page = max(1, min(_int_param(params, "per_page", PIVOT_DEFAULT_PER_PAGE), MAX_PER_PAGE))
    page = max(1, _int_param(params, "page", 1))
    return _json(200, sb.state.pivot_report(m["id"], view, page, per_page))


def _dispatch(
    sb: AhaSandbox, method: str, path: str, params: dict[str, str], body: Any
) -> _Response:
    path_matched = False
    for r_method, regex, fn in _ROUTES:
        mt = regex.fullmatch(path)
        if mt is None:
            continue
        path_matched = True
        if r_method == method:
            return fn(sb, mt.groupdict(), params, body)
    if path_matched:
        return _error(405, "Method not allowed")
    return _error(404, "Not found")


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
            "127.0.0.1", self.port, self._wsgi, threaded=True, request_handler=_Handler
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
                body = json.loads(raw_body)
            except ValueError:
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
            raise _DropConnection

        if fkind in ("429", "500", "502", "503", "504", "html"):
            if fkind == "429":
                resp = _error(429, "Rate limit exceeded")
                resp.headers.update(self.limiter.exhausted_headers())
            elif fkind == "html":
                resp = _Response(500, _HTML_ERROR, "text/html; charset=utf-8")
                resp.headers.update(self.limiter.peek())
            else:
                status = int(fkind)
                resp = _error(status, f"{_STATUS_TEXT[status]} (injected)")
                resp.headers.update(self.limiter.peek())
            return self._finish(
                start_response, resp, method, path, raw_path, query, body, t0, fkind
            )

        admitted, rl_headers = self.limiter.admit()
        if not admitted:
            resp = _error(429, "Rate limit exceeded. Retry after X-Ratelimit-Reset.")
        else:
            resp = self._authorized(environ, method, path, raw_path, query, body, bad_json)
        resp.headers.update(rl_headers)

        if fkind == "reset_after":
            self._record(method, path, raw_path, query, body, None, t0, fkind)
            raise _DropConnection
        if fkind == "malformed_json":
            full = resp.body or b'{"ok":true}'
            resp = _Response(200, full[: max(1, len(full) // 2)])
            resp.headers.update(rl_headers)
        elif fkind == "slow":
            pass
        return self._finish(start_response, resp, method, path, raw_path, query, body, t0, fkind)

    def _authorized(
        self,
        environ: dict[str, Any],
        method: str,
        path: str,
        raw_path: str,
        query: dict[str, str],
        body: Any,
        bad_json: bool,
    ) -> _Response:
        auth = str(environ.get("HTTP_AUTHORIZATION", "")).encode()
        if not auth:
            return _error(401, "Authentication required: send 'Authorization: Bearer <key>'")
        if not hmac.compare_digest(auth, self._auth_header):
            return _error(403, "Authentication information is incorrect")
        if not raw_path.startswith(API_PREFIX):
            return _error(404, "Not found")
        if bad_json:
            return _error(400, "Request body is not valid JSON")
        try:
            return _dispatch(self, method, path, query, body)
        except SandboxError as e:
            return _error(e.status, e.message)

    def _finish(
        self,
        start_response: Callable[..., Any],
        resp: _Response,
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
