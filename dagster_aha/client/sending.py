"""One request of AhaClient: pacing, attempts, retries, 429s and typed errors.

:class:`RequestSending` is mixed into :class:`~dagster_aha.client.client.AhaClient`; the
list reads (:mod:`dagster_aha.client.list_reads`) send their pages through it too.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from dagster_aha.client.auth import BearerAuth
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
from dagster_aha.client.list_reads import AbandonedPage, ShrinkPage
from dagster_aha.client.ratelimit import AdmissionTimeout, RateLimiter
from dagster_aha.client.stats import StatsCounter
from dagster_aha.client.transport import (
    AttemptDeadlineExceeded,
    ResponseTooLarge,
    headers_arrived,
    request_written,
    send_attempt,
)
from dagster_aha.client.urls import API_PREFIX, ShownUrl, check_api_path
from dagster_aha.client.waits import WaitBudget

logger = logging.getLogger("dagster_aha.client")

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
#: Statuses after which a POST's outcome is unknown (a gateway answered, not Aha! itself).
AMBIGUOUS_POST_STATUSES = frozenset({502, 504})
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


class RequestSending:
    """How AhaClient sends one request (the client's settings and parts, declared here)."""

    base_url: str
    timeout: float
    max_retries: int
    backoff_base: float
    backoff_max: float
    disable_mailers: bool
    wait_budget: float
    max_response_bytes: int
    _session: requests.Session
    _limiter: RateLimiter
    _stats: StatsCounter
    _sleep: Callable[[float], None]

    def url_for(self, path: str) -> str:
        """The full URL of an API path (validated; no query string)."""
        return self.base_url + API_PREFIX + check_api_path(path)

    def redact(self, text: str) -> str:
        """``text`` with this client's key redacted in every encoded form (for messages)."""
        auth = self._session.auth
        return auth.redactor.text(text) if isinstance(auth, BearerAuth) else text

    def _scrub(self, data: bytes) -> bytes:
        auth = self._session.auth
        return auth.scrub(data) if isinstance(auth, BearerAuth) else data

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
            try:
                # a 429's retry keeps its place; the wait for a slot is bounded by the budget
                paced = self._limiter.acquire(
                    priority=limited > 0, timeout=budget.remaining + own_wait
                )
            except AdmissionTimeout as late:
                raise budget.paced_out(late.waited - own_wait) from None
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
            raise self._not_an_object(resp, method, what) from None
        if not isinstance(data, dict):
            raise self._not_an_object(resp, method, type(data).__name__)
        return data

    def _not_an_object(self, resp: requests.Response, method: str, got: str) -> AhaResponseError:
        return AhaResponseError(
            resp.status_code,
            method,
            resp.url,
            f"expected a JSON object, got {got}",
            self._excerpt(resp.content),
        )

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
