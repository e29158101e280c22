"""AhaClient: a fast, safe HTTP client for the Aha! REST API v1 (no Dagster import)."""

from __future__ import annotations

import json as jsonlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import requests
import requests.auth

from dagster_aha.client.auth import BearerAuth
from dagster_aha.client.completeness import (
    ListReadReport,
)
from dagster_aha.client.concurrency import DEFAULT_MAX_CONCURRENCY, InFlightTarget
from dagster_aha.client.errors import (
    AhaAmbiguousWriteError,
    AhaConnectionError,
    AhaError,
    AhaResponseError,
    AhaResponseTooLargeError,
    AhaTimeoutError,
    body_excerpt,
    error_for_status,
)
from dagster_aha.client.failures import asked_wait, classify_failure, retry_after
from dagster_aha.client.headers import check_headers
from dagster_aha.client.limiters import get_shared_limiter
from dagster_aha.client.list_reads import MAX_PER_PAGE, AbandonedPage, ListReader, ShrinkPage
from dagster_aha.client.pagination import PageInfo, parse_pagination
from dagster_aha.client.pivot import PivotListReport, PivotViewReport
from dagster_aha.client.ratelimit import RateLimiter
from dagster_aha.client.stats import ClientStats, StatsCounter
from dagster_aha.client.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    AttemptDeadlineExceeded,
    DeadlineAdapter,
    ResponseTooLarge,
    headers_arrived,
    request_written,
    send_attempt,
    settle_environment,
)
from dagster_aha.client.urls import (
    API_PREFIX,
    ShownUrl,
    check_api_path,
    quote_segment,
    resolve_base_url,
)
from dagster_aha.client.waits import DEFAULT_WAIT_BUDGET, WaitBudget
from dagster_aha.version import __version__

__all__ = ["MAX_PER_PAGE", "AhaClient", "ClientStats"]

logger = logging.getLogger("dagster_aha.client")

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


def _extra_headers(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """Per-request headers, names normalised and checked (never auth/host/framing/method)."""
    return check_headers(headers) or None


#: Statuses after which a POST's outcome is unknown (a gateway answered, not Aha! itself).
AMBIGUOUS_POST_STATUSES = frozenset({502, 504})
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
DEFAULT_USER_AGENT = f"dagster-aha/{__version__}"


def _fields_param(fields: str | Sequence[str] | None) -> str | None:
    if fields is None:
        return None
    if isinstance(fields, str):
        parts = [f.strip() for f in fields.split(",")]
    else:
        parts = [str(f).strip() for f in fields]
    parts = [p for p in parts if p]
    if not parts:
        raise ValueError("fields must name at least one field (or '*')")
    return ",".join(parts)


class AhaClient:
    """Client for ``https://<subdomain>.aha.io/api/v1/``.

    Args:
        subdomain: The account name (``acme`` for ``https://acme.aha.io``). Exactly one of
            ``subdomain`` and ``base_url`` is required.
        api_key: An Aha! API key or OAuth2 access token (sent as ``Authorization: Bearer``).
        base_url: The account root URL instead of a subdomain: ``https://...``, or ``http://``
            on a loopback address (local sandboxes). No path, query or credentials.
        user_agent: Your own product and contact, e.g. ``"acme-sync (ops@acme.com)"``;
            Aha! asks for a contact. Sent as ``"<user_agent> dagster-aha/<version>"``.
        timeout: Deadline in seconds of one HTTP attempt as a whole: connect, send, response
            headers and the whole body (a server sending slowly cannot stretch it).
        wait_budget: Seconds one request may spend waiting between its attempts in total
            (back-offs, ``Retry-After``, 429 pauses); a wait that would go beyond it raises
            :class:`AhaWaitBudgetError` instead. Default 300.
        max_response_bytes: Largest response body read (decoded bytes); a larger 2xx body
            raises :class:`AhaResponseTooLargeError` (not retried). Default 64 MiB.
        max_retries: Retries per request for 5xx/connection/timeouts (GET/PUT/DELETE); 429s
            have their own budget of the same size. 400/401/403/404/422 are never retried.
        per_page: Default page size of list calls (capped at 200).
        requests_per_second, requests_per_minute: Proactive limits, shared process-wide by
            every client of the same account (``base_url``) and limits.
        max_concurrency: Upper cap of the pages ``iter_records`` keeps in flight (and of
            worker threads). The read keeps ``allowed rate x measured round trip`` in flight
            (Little's law, adapting as latency changes), so the default cap of 64 is rarely
            reached; lower it only to bound threads and memory.
        disable_mailers: Send ``disable_mailers=true`` on every POST/PUT/DELETE by default.
        backoff_base, backoff_max: Exponential backoff with full jitter: attempt ``n`` waits
            ``uniform(0, min(backoff_max, backoff_base * 2**n))`` seconds.
        time_scale: Divides the rate-limit window lengths (a 1/time_scale s "second" and a
            60/time_scale s "minute"): for simulators with compressed time such as
            ``AhaSandbox(time_scale=...)``. Keep 1.0 for Aha! itself.
        rate_limiter: A :class:`RateLimiter` to use instead of the process-wide one.
        session: A ``requests.Session`` to use. Its proxy settings (and, with ``trust_env``,
            the proxy/CA-bundle environment, read once here) apply to https accounts; a
            loopback account never goes through a proxy.
        budget_store: Where the account's rate budget is shared: ``"process"`` (default, this
            process only), ``"host"`` (a SQLite file: every process of this host), a
            ``sqlite:///path`` URL, or a PostgreSQL SQLAlchemy URL (every host of a fleet).
            Every participant of the account should use the same store.
    """

    def __init__(
        self,
        subdomain: str | None = None,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        user_agent: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        per_page: int = 200,
        requests_per_second: float = 20,
        requests_per_minute: float = 300,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        disable_mailers: bool = True,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        time_scale: float = 1.0,
        rate_limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        budget_store: str | None = None,
        wait_budget: float = DEFAULT_WAIT_BUDGET,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.base_url = resolve_base_url(subdomain, base_url)
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key is required (an Aha! API key or OAuth2 token)")
        if any(ch in api_key for ch in "\r\n\x00"):
            raise ValueError("api_key contains control characters")
        if user_agent is not None and any(ch in user_agent for ch in "\r\n\x00"):
            raise ValueError("user_agent contains control characters")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        if not timeout > 0 or timeout == float("inf"):
            raise ValueError("timeout must be a finite number of seconds > 0")
        if not wait_budget >= 0 or wait_budget == float("inf"):
            raise ValueError("wait_budget must be a finite number of seconds >= 0")
        if int(max_response_bytes) < 1024:
            raise ValueError("max_response_bytes must be >= 1024")
        self.wait_budget = float(wait_budget)
        self.max_response_bytes = int(max_response_bytes)
        self.subdomain = subdomain
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.per_page = max(1, min(int(per_page), MAX_PER_PAGE))
        self.requests_per_second = requests_per_second
        self.requests_per_minute = requests_per_minute
        self.max_concurrency = int(max_concurrency)
        self.disable_mailers = bool(disable_mailers)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.user_agent = (
            f"{user_agent.strip()} {DEFAULT_USER_AGENT}" if user_agent else DEFAULT_USER_AGENT
        )
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = float(time_scale)
        self._limiter = rate_limiter or get_shared_limiter(
            self.base_url,
            requests_per_second,
            requests_per_minute,
            time_scale=self.time_scale,
            budget_store=budget_store,
        )
        (span, limit), _ = self._limiter.windows
        self._in_flight = InFlightTarget(limit / span, self.max_concurrency, window_budget=limit)
        self._sleep: Callable[[float], None] = time.sleep
        self._stats = StatsCounter()
        self._reads = ListReader(self)
        self._session = session or requests.Session()
        pool = max(10, self.max_concurrency * 2)
        adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=pool, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        settle_environment(self._session, self.base_url)
        self._session.auth = BearerAuth(api_key)
        self._session.headers.update(
            {
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": self.user_agent,
            }
        )

    # -- plumbing ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"AhaClient(base_url={self.base_url!r})"

    __str__ = __repr__

    def __enter__(self) -> AhaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    @property
    def account_url(self) -> str:
        return self.base_url

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._limiter

    @property
    def stats(self) -> ClientStats:
        return self._stats.snapshot()

    def url_for(self, path: str) -> str:
        """The full URL of an API path (validated; no query string)."""
        return self.api_url + check_api_path(path)

    def _scrub(self, data: bytes) -> bytes:
        auth = self._session.auth
        return auth.scrub(data) if isinstance(auth, BearerAuth) else data

    def redact(self, text: str) -> str:
        """``text`` with this client's key redacted in every encoded form (for messages)."""
        auth = self._session.auth
        return auth.redactor.text(text) if isinstance(auth, BearerAuth) else text

    def _backoff(self, attempt: int) -> float:
        cap = min(self.backoff_max, self.backoff_base * (2**attempt))
        return random.uniform(0, cap)

    def _count(self, status: int | None) -> None:
        with self._stats.lock:
            self._stats.requests += 1
            if status is not None:
                self._stats.by_status[status] = self._stats.by_status.get(status, 0) + 1
                if status == 429:
                    self._stats.rate_limited += 1

    def _count_retry(self) -> None:
        with self._stats.lock:
            self._stats.retries += 1

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        disable_mailers: bool | None = None,
        shrink_on_504: bool = False,
        headers: Mapping[str, str] | None = None,
        abandon: threading.Event | None = None,
    ) -> requests.Response:
        """Send with rate limiting and retries; return a 2xx response or raise AhaError.

        Each attempt has ``timeout`` seconds in total (body included) and reads at most
        ``max_response_bytes``; the waits between attempts share ``wait_budget``. The body of
        the returned response has the key redacted in every encoded form.
        """
        method = method.upper()
        url = self.url_for(path)
        query: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
        mailers = self.disable_mailers if disable_mailers is None else disable_mailers
        if method in WRITE_METHODS and mailers:
            query["disable_mailers"] = "true"
        for k, v in list(query.items()):
            if isinstance(v, bool):
                query[k] = "true" if v else "false"
        shown = ShownUrl(
            lambda: self.redact(requests.Request(method, url, params=query).prepare().url or url)
        )
        failures = 0
        limited = 0
        budget = WaitBudget(self.wait_budget, method, shown)
        own_wait = 0.0  # a 429 pause this request took from its budget (the limiter waits it)
        while True:
            if abandon is not None and abandon.is_set():
                raise AbandonedPage  # its read is over (a page beyond the end): no retry
            paced = self._limiter.acquire(priority=limited > 0)  # a 429's retry keeps its place
            budget.add(paced - own_wait)
            own_wait = 0.0
            start = time.monotonic()
            try:
                resp = send_attempt(
                    self._session,
                    method,
                    url,
                    params=query,
                    json=json,
                    headers=headers,
                    timeout=self.timeout,
                    max_bytes=self.max_response_bytes,
                )
            except ResponseTooLarge as big:
                status = big.response.status_code
                self._count(status)
                self._limiter.update_from_headers(
                    big.response.headers, time.monotonic() - start, status=status
                )
                size = big.declared if big.declared is not None else big.read
                raise AhaResponseTooLargeError(
                    status,
                    method,
                    str(shown),
                    f"the response body is larger than max_response_bytes={big.limit} "
                    f"({'declared ' if big.declared is not None else 'over '}{size} bytes); "
                    "it was not read"
                    + ("" if method == "GET" else ": the request itself may have been applied")
                    + " (ask for fewer records or fields, or raise max_response_bytes)",
                    limit=big.limit,
                    size=size,
                ) from None
            except requests.RequestException as exc:
                self._count(None)
                self._limiter.update_from_headers({})  # the attempt is over (ends slow start)
                kind = classify_failure(exc)
                if isinstance(exc, AttemptDeadlineExceeded):
                    reason = f"timed out ({exc})"
                else:
                    reason = f"{type(exc).__name__}" + (
                        " (read timeout)"
                        if kind == "timeout"
                        else " (connect failed)"
                        if kind == "not_sent"
                        else " (connection broken)"
                    )
                if method == "POST" and kind != "not_sent":
                    raise AhaAmbiguousWriteError(
                        None,
                        method,
                        str(shown),
                        f"{reason}: the request may or may not have been applied; look the "
                        "record up before re-posting",
                    ) from None
                if failures >= self.max_retries:
                    cls = AhaTimeoutError if kind == "timeout" else AhaConnectionError
                    raise cls(
                        None,
                        method,
                        str(shown),
                        f"{reason} after {failures + 1} attempt(s)",
                    ) from None
                wait = self._backoff(failures)
                budget.take(wait, why=f"a retry after {reason}")
                failures += 1
                self._count_retry()
                logger.warning(
                    "Aha! %s %s failed: %s; retry %d/%d in %.2fs",
                    method,
                    str(shown),
                    reason,
                    failures,
                    self.max_retries,
                    wait,
                )
                self._sleep(wait)
                continue
            resp._content = self._scrub(resp.content)
            status = resp.status_code
            self._count(status)
            done = time.monotonic()
            arrived = headers_arrived(resp)
            arrived = done if arrived is None else min(max(arrived, start), done)
            # the round trip from the request on a connected socket (TCP/TLS set-up of a new
            # connection would make the round trips look longer than a re-used one's)
            written = request_written(resp)
            written = start if written is None else min(max(written, start), arrived)
            self._limiter.update_from_headers(
                resp.headers, arrived - written, status=status, age=done - arrived
            )
            logger.debug(
                "Aha! %s %s -> %d in %.3fs", method, shown, status, time.monotonic() - start
            )
            if 200 <= status < 300:
                return resp
            if status == 429:
                hinted = retry_after(resp)
                if limited >= self.max_retries:
                    raise self._status_error(resp, method, str(shown), retry_after=hinted)
                base = hinted if hinted is not None else self._backoff(limited)
                # alone on the account the reset the server gave is exact; processes rejected
                # together spread their retries instead of colliding again at the reset
                spread = min(self.backoff_max, max(self.backoff_base, base))
                wait = base + (random.uniform(0, spread) if self._limiter.shared else 0.0)
                asked = asked_wait(resp)
                budget.take(wait, why="a rate-limited retry (429)", status=status, requested=asked)
                self._limiter.block_until(wait)
                own_wait = wait
                limited += 1
                self._count_retry()
                logger.warning(
                    "Aha! %s %s rate limited (429); waiting %.2fs (429 retry %d/%d)",
                    method,
                    str(shown),
                    wait,
                    limited,
                    self.max_retries,
                )
                continue
            retryable = status in RETRYABLE_STATUSES and method != "POST"
            if status == 504 and shrink_on_504:
                raise ShrinkPage(0, self._status_error(resp, method, str(shown)))
            if method == "POST" and status in AMBIGUOUS_POST_STATUSES:
                # A gateway error or gateway timeout says nothing about whether Aha! applied
                # the create behind the gateway: report it as unknown, never as "failed".
                raise AhaAmbiguousWriteError(
                    status,
                    method,
                    str(shown),
                    f"HTTP {status} from a gateway: the request may or may not have been "
                    "applied; look the record up before re-posting",
                    self._excerpt(resp.content),
                )
            if retryable and failures < self.max_retries:
                hinted = retry_after(resp) if status == 503 else None
                wait = (
                    min(hinted, self.backoff_max) if hinted is not None else self._backoff(failures)
                )
                budget.take(
                    wait,
                    why=f"a retry after HTTP {status}",
                    status=status,
                    requested=asked_wait(resp) if status == 503 else None,
                )
                failures += 1
                self._count_retry()
                logger.warning(
                    "Aha! %s %s returned %d; retry %d/%d in %.2fs",
                    method,
                    str(shown),
                    status,
                    failures,
                    self.max_retries,
                    wait,
                )
                self._sleep(wait)
                continue
            raise self._status_error(resp, method, str(shown))

    def _excerpt(self, content: bytes) -> str | None:
        excerpt = body_excerpt(content)
        return self.redact(excerpt) if excerpt is not None else None

    def _status_error(
        self,
        resp: requests.Response,
        method: str,
        shown_url: str,
        retry_after: float | None = None,
    ) -> AhaError:
        return error_for_status(
            resp.status_code,
            method,
            shown_url,
            resp.content,
            resp.headers.get("Content-Type"),
            retry_after=retry_after,
            redact=self.redact,
        )

    def _json(self, resp: requests.Response, method: str) -> dict[str, Any] | None:
        if resp.status_code == 204 or not resp.content or not resp.content.strip():
            return None
        try:
            # Parsed from the bytes (JSON is UTF-8, RFC 8259): invalid bytes are an error,
            # not a guessed charset. ValueError covers invalid JSON and undecodable bytes;
            # RecursionError a body nested too deeply for the parser; MemoryError one too
            # large to hold.
            data = jsonlib.loads(resp.content)
        except (ValueError, RecursionError, MemoryError) as exc:
            what = {
                RecursionError: "a JSON body nested too deeply to parse",
                MemoryError: "a JSON body too large to parse",
            }.get(
                type(exc),
                "non-JSON body (not valid UTF-8)"
                if isinstance(exc, UnicodeDecodeError)
                else "non-JSON body",
            )
            raise AhaResponseError(
                resp.status_code,
                method,
                resp.url,
                f"expected a JSON object, got {what}",
                self._excerpt(resp.content),
            ) from None
        if not isinstance(data, dict):
            raise AhaResponseError(
                resp.status_code,
                method,
                resp.url,
                f"expected a JSON object, got {type(data).__name__}",
                self._excerpt(resp.content),
            )
        return data

    @staticmethod
    def _truncated(resp: requests.Response) -> bool:
        """A 2xx body that is not JSON at all (e.g. cut off): worth retrying a GET."""
        if resp.status_code == 204 or not resp.content.strip():
            return False
        try:
            jsonlib.loads(resp.content)
        except UnicodeDecodeError:
            return False  # complete but not UTF-8: retrying cannot help
        except ValueError:
            return True
        except (RecursionError, MemoryError):
            return False  # complete but unparseable: retrying cannot help
        return False

    def _retry_truncated(self, resp: requests.Response, attempt: int) -> None:
        wait = self._backoff(attempt)
        self._count_retry()
        logger.warning(
            "Aha! GET %s returned %d with a body that is not JSON; retry %d/%d in %.2fs",
            resp.url,
            resp.status_code,
            attempt + 1,
            self.max_retries,
            wait,
        )
        self._sleep(wait)

    # -- public API ----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        disable_mailers: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """Send one request to ``/api/v1/<path>``; return the JSON object (None for 204).

        ``disable_mailers=None`` uses the client default (POST/PUT/DELETE then carry
        ``disable_mailers=true``). Build ``path`` with :func:`quote_segment` for every
        data-derived segment. ``headers`` adds request headers; authentication, host, length
        and cookies cannot be set this way (ValueError, nothing sent).
        """
        method = method.upper()
        extra = _extra_headers(headers)
        for attempt in range(self.max_retries + 1):
            resp = self._send(
                method,
                path,
                params=params,
                json=json,
                disable_mailers=disable_mailers,
                headers=extra,
            )
            try:
                return self._json(resp, method)
            except AhaResponseError:
                if method != "GET" or attempt >= self.max_retries or not self._truncated(resp):
                    raise
                self._retry_truncated(resp, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        return self.request("GET", path, params=params)

    def me(self) -> dict[str, Any]:
        """The current user (``GET /api/v1/me``): a cheap credential and endpoint check."""
        body = self.request("GET", "me")
        user = (body or {}).get("user")
        if not isinstance(user, dict):
            raise AhaResponseError(
                200, "GET", self.url_for("me"), "expected a 'user' object in the response"
            )
        return user

    def iter_records(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        fields: str | Sequence[str] | None = None,
        per_page: int | None = None,
        record_key: str | None = None,
        on_page: Callable[[PageInfo], None] | None = None,
        report: ListReadReport | None = None,
        expected_pages: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every record of a paginated list, e.g. ``iter_records("products/PRJ1/releases")``.

        Page 1 is fetched first; once it tells ``total_pages``, pages 2..N are fetched
        concurrently (at most ``max_concurrency`` in flight) and yielded in page order.
        Records are de-duplicated by ``id`` within one iteration. ``on_page`` receives a
        :class:`PageInfo` after each page has been yielded.

        The read is complete or it raises :class:`AhaIncompleteReadError` (see
        :mod:`dagster_aha.client.completeness`): a page that is empty or short before the last,
        or repeats the page before, is fetched again; a list whose pages do not add up to
        ``total_records`` is read again (records already yielded are yielded again only when
        their ``updated_at`` changed). ``report`` (a :class:`ListReadReport`) is filled in as
        the read goes; ``report.complete`` is set once the last record has been yielded.

        ``expected_pages``: the page count of an earlier read of this list (for example
        ``report.total_pages`` kept with a cursor by a caller that runs in a new process each
        time). Pages 2..k then start together with page 1, as when the client itself remembers
        the count from an earlier read in this process or in its budget store (which wins when
        both are known). Pages beyond the end are discarded: a wrong value costs at most one
        short window's budget of requests, never records.
        """
        query = {k: v for k, v in (params or {}).items() if k not in ("page", "per_page")}
        f = _fields_param(fields)
        if f is not None:
            query["fields"] = f
        size = max(1, min(int(per_page or self.per_page), MAX_PER_PAGE))
        pages = expected_pages
        yield from self._reads.records(path, query, size, record_key, on_page, report, pages)

    def get_pivot_report(
        self,
        report_id: str | int,
        *,
        view: Literal["list", "pivot"] = "list",
        per_page: int | None = None,
    ) -> PivotListReport | PivotViewReport:
        """A custom pivot report: ``view="list"`` (all pages) or ``view="pivot"``."""
        path = f"bookmarks/custom_pivots/{quote_segment(report_id)}"
        if view == "pivot":
            body = self.request("GET", path, params={"view": "pivot"})
            if body is None:
                raise AhaResponseError(200, "GET", self.url_for(path), "empty pivot report")
            missing = [
                k for k in ("rows", "columns", "cells", "field_definitions") if k not in body
            ]
            if missing:
                raise AhaResponseError(
                    200,
                    "GET",
                    self.url_for(path),
                    f"expected a pivot view with {missing} keys; keys present: {sorted(body)[:20]}",
                )
            try:
                return PivotViewReport.model_validate(body)
            except AhaResponseError as exc:
                raise AhaResponseError(200, "GET", self.url_for(path), exc.message) from None
        if view != "list":
            raise ValueError(f"view must be 'list' or 'pivot', got {view!r}")
        first: dict[str, Any] = {}

        def keep_first(body: dict[str, Any]) -> None:
            first.update(body)

        rows: list[Any] = []
        size = max(1, min(int(per_page or self.per_page), MAX_PER_PAGE))
        for page_rows in self._reads.pages(path, {"view": "list"}, size, "rows", keep_first):
            rows.extend(page_rows)
        if not isinstance(first.get("columns"), list):
            raise AhaResponseError(
                200,
                "GET",
                self.url_for(path),
                "expected a list view with 'columns' and 'rows'",
            )
        try:
            return PivotListReport.model_validate(
                {"columns": first["columns"], "rows": rows, "pagination": parse_pagination(first)}
            )
        except AhaResponseError as exc:
            raise AhaResponseError(200, "GET", self.url_for(path), exc.message) from None
