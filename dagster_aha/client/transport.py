"""One HTTP attempt with a deadline and a size bound, and the session's proxy settings.

* ``timeout`` is a deadline for the whole attempt: connect, TLS, send, response headers and
  the body. Socket timeouts alone bound each ``recv``, so a server dribbling one byte a second
  could keep an attempt alive forever; a watchdog thread shuts the attempt's socket down when
  its deadline passes, and the attempt fails as a timeout (:class:`AttemptDeadlineExceeded`).
* Bodies are streamed and at most ``max_bytes`` (decoded) bytes are read: a larger 2xx body
  raises :class:`ResponseTooLarge` (not retried: the same page would be as large again); of an
  error body only the first :data:`ERROR_BODY_BYTES` are kept (enough for its message).
* Proxies come from the environment once, when the client is built (:func:`settle_environment`),
  not on every request; loopback accounts (a local sandbox) never go through a proxy.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import requests
import requests.utils
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from dagster_aha.client.urls import is_loopback_url

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ERROR_BODY_BYTES",
    "AttemptDeadlineExceeded",
    "DeadlineAdapter",
    "ResponseTooLarge",
    "headers_arrived",
    "request_written",
    "send_attempt",
    "settle_environment",
]

#: Default cap of one response body: well above Aha!'s largest page (200 records with
#: ``fields=*`` are a few MiB), far below what would exhaust a worker's memory.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Bytes kept of a non-2xx body (its error message); the rest is not read.
ERROR_BODY_BYTES = 256 * 1024
_CHUNK = 64 * 1024


class AttemptDeadlineExceeded(requests.exceptions.Timeout):
    """The attempt's deadline passed (``sent``: the request may have reached the server)."""

    def __init__(self, timeout: float, sent: bool, phase: str) -> None:
        self.timeout = timeout
        self.sent = sent
        self.phase = phase
        super().__init__(f"the {timeout:g} s deadline of the attempt passed while {phase}")


class ResponseTooLarge(Exception):
    """A 2xx body larger than the cap (``response`` has the status and headers only)."""

    def __init__(self, response: requests.Response, read: int, limit: int, declared: int | None):
        self.response = response
        self.read = read
        self.limit = limit
        self.declared = declared
        super().__init__(f"response body over {limit} bytes")


# -- the deadline watchdog -------------------------------------------------------------------


class _Attempt:
    """The sockets of one attempt; shut down when its deadline passes."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.lock = threading.Lock()
        self.socks: list[tuple[Any, socket.socket]] = []
        self.expired = False
        self.done = False
        self.phase = "connecting"
        self.written_at: float | None = None

    def register(self, conn: Any, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self.lock:
            if self.done:
                return
            conn._aha_attempt = self
            self.socks.append((conn, sock))
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.expired = True
            for conn, sock in self.socks:
                if getattr(conn, "_aha_attempt", None) is self:  # not handed to another attempt
                    _shut(sock)

    def finish(self) -> None:
        with self.lock:
            self.done = True
            self.socks.clear()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        # the plain socket method: works under an SSL wrapper too, and wakes a blocked recv
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread expiring attempts at their deadlines (restarted after a fork)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Attempt]] = []
        self._seq = itertools.count()
        self._pid: int | None = None

    def arm(self, attempt: _Attempt) -> None:
        with self._cond:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._heap = []
                threading.Thread(target=self._run, name="dagster-aha-deadline", daemon=True).start()
            heapq.heappush(self._heap, (attempt.deadline, next(self._seq), attempt))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                        _, _, attempt = heapq.heappop(self._heap)
                        if not attempt.done:
                            attempt.expire()
                    wait = self._heap[0][0] - now if self._heap else None
                    self._cond.wait(wait)


_WATCHDOG = _Watchdog()
_local = threading.local()


def _current() -> _Attempt | None:
    return getattr(_local, "attempt", None)


class _DeadlineConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        attempt = _current()
        if attempt is not None:
            attempt.register(self, sock)
        return sock

    def connect(self) -> None:
        super().connect()
        attempt = _current()
        if attempt is not None:
            attempt.register(self, self.sock)
            attempt.phase = "sending the request"
            attempt.written_at = time.monotonic()  # (http.client connects inside request())

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        attempt = _current()
        if attempt is not None and self.sock is not None:  # a re-used connection
            attempt.register(self, self.sock)
            attempt.phase = "sending the request"
        if attempt is not None:
            attempt.written_at = time.monotonic()  # connected (TLS included): the request goes
        super().request(*args, **kwargs)
        if attempt is not None:
            attempt.phase = "waiting for the response"


class _DeadlineHTTPSConnection(_DeadlineConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineConnection  # type: ignore[assignment]


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection  # type: ignore[assignment]


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections report their sockets to the current attempt."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


@contextlib.contextmanager
def _attempt(timeout: float) -> Iterator[_Attempt]:
    attempt = _Attempt(time.monotonic() + timeout)
    previous = _current()
    _local.attempt = attempt
    _WATCHDOG.arm(attempt)
    try:
        yield attempt
    finally:
        attempt.finish()
        _local.attempt = previous


def _declared_length(resp: requests.Response) -> int | None:
    raw = resp.headers.get("Content-Length")
    if raw is None or "gzip" in resp.headers.get("Content-Encoding", "").lower():
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


_HEADERS_AT = "_aha_headers_at"
_WRITTEN_AT = "_aha_written_at"


def headers_arrived(resp: requests.Response) -> float | None:
    """``time.monotonic()`` when ``resp``'s status line and headers had arrived, if known."""
    at = resp.__dict__.get(_HEADERS_AT)
    return at if isinstance(at, float) else None


def request_written(resp: requests.Response) -> float | None:
    """``time.monotonic()`` when the request of ``resp`` started going out on a connected
    socket (after any TCP/TLS set-up), if known."""
    at = resp.__dict__.get(_WRITTEN_AT)
    return at if isinstance(at, float) else None


def send_attempt(
    session: requests.Session,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None,
    json: Any,
    headers: Mapping[str, str] | None,
    timeout: float,
    max_bytes: int,
) -> requests.Response:
    """One attempt, body read, within ``timeout`` seconds in total.

    Raises ``requests`` exceptions (:class:`AttemptDeadlineExceeded` for the deadline) or
    :class:`ResponseTooLarge`; the returned response has its body in ``.content``.
    """
    with _attempt(timeout) as attempt:
        try:
            left = max(attempt.deadline - time.monotonic(), 0.001)
            resp = session.request(
                method,
                url,
                params=params,
                json=json,
                headers=dict(headers) if headers else None,
                timeout=(left, left),
                allow_redirects=False,
                stream=True,
            )
            # the server admitted the request before it sent these headers: the rate limiter
            # times the round trip to here, not to the end of the body (nor of its scrubbing)
            resp.__dict__[_HEADERS_AT] = time.monotonic()
            if attempt.written_at is not None:
                resp.__dict__[_WRITTEN_AT] = attempt.written_at
            try:
                ok = 200 <= resp.status_code < 300
                limit = max_bytes if ok else min(max_bytes, ERROR_BODY_BYTES)
                declared = _declared_length(resp)
                if ok and declared is not None and declared > limit:
                    raise ResponseTooLarge(resp, 0, limit, declared)
                attempt.phase = "reading the response body"
                if resp.raw is None or resp._content is not False:
                    # already read (a session that is not requests' own): cap what is there
                    content = resp.content or b""
                    if ok and len(content) > limit:
                        raise ResponseTooLarge(resp, len(content), limit, declared)
                    resp._content = content[:limit]
                    return resp
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_content(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        if ok:
                            raise ResponseTooLarge(resp, size, limit, declared)
                        chunks.append(chunk[: len(chunk) - (size - limit)])
                        resp.raw.close()  # the rest is not read: never re-use the connection
                        break
                    chunks.append(chunk)
                if attempt.expired:  # a shut-down socket can look like the end of the body
                    raise AttemptDeadlineExceeded(timeout, True, "reading the response body")
                resp._content = b"".join(chunks)
                resp._content_consumed = True
            finally:
                if resp.raw is not None:
                    resp.close()
        except requests.RequestException as exc:
            if attempt.expired and not isinstance(exc, AttemptDeadlineExceeded):
                sent = attempt.phase != "connecting"
                raise AttemptDeadlineExceeded(timeout, sent, attempt.phase) from exc
            raise
        return resp


# -- proxies ---------------------------------------------------------------------------------

_PROXY_KEYS = ("http", "https", "all")


def settle_environment(session: requests.Session, base_url: str) -> None:
    """Read the proxy and CA-bundle environment once for ``base_url``, then stop reading it.

    ``requests`` otherwise re-reads ``*_PROXY``/``NO_PROXY`` (and ``REQUESTS_CA_BUNDLE``) on
    every call. An https account behind a corporate proxy keeps its ``HTTPS_PROXY`` (unless
    ``NO_PROXY`` names the host) and CA bundle; proxies set on a given session win over the
    environment. A loopback account (a local sandbox) never goes through any proxy: its plain
    http traffic, key included, would be readable by the proxy.
    """
    if is_loopback_url(base_url):
        session.proxies = {}
        session.trust_env = False
        return
    if not session.trust_env:
        return
    env = requests.utils.get_environ_proxies(base_url)
    proxies = {k: v for k, v in env.items() if k in _PROXY_KEYS or "://" in k}
    proxies.update(session.proxies or {})
    session.proxies = proxies
    if session.verify is True:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
    session.trust_env = False
