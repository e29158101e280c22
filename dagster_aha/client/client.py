"""AhaClient: a fast, safe HTTP client for the Aha! REST API v1 (no Dagster import)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import requests

from dagster_aha.client.auth import BearerAuth
from dagster_aha.client.completeness import ListReadReport
from dagster_aha.client.concurrency import DEFAULT_MAX_CONCURRENCY, InFlightTarget
from dagster_aha.client.errors import AhaResponseError
from dagster_aha.client.headers import check_headers
from dagster_aha.client.limiters import get_shared_limiter
from dagster_aha.client.list_reads import MAX_PER_PAGE, ListReader
from dagster_aha.client.pagination import PageInfo, parse_pagination
from dagster_aha.client.pivot import PivotListReport, PivotViewReport
from dagster_aha.client.ratelimit import RateLimiter
from dagster_aha.client.sending import RequestSending
from dagster_aha.client.stats import ClientStats, StatsCounter
from dagster_aha.client.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DeadlineAdapter,
    settle_environment,
)
from dagster_aha.client.urls import API_PREFIX, quote_segment, resolve_base_url
from dagster_aha.client.waits import DEFAULT_WAIT_BUDGET
from dagster_aha.version import __version__

__all__ = ["MAX_PER_PAGE", "AhaClient", "ClientStats"]


def _extra_headers(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """Per-request headers, names normalised and checked (never auth/host/framing/method)."""
    return check_headers(headers) or None


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


class AhaClient(RequestSending):
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
            (back-offs, ``Retry-After``, 429 pauses, the wait for a request slot); a wait that
            would go beyond it raises :class:`AhaWaitBudgetError` instead (before the request
            is sent, when no slot was free in time). Default 300.
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
