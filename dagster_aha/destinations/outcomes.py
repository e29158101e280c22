"""Turning write results and errors into outcomes: which failures leave a create unknown."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from dagster_aha.client.errors import (
    AhaAmbiguousWriteError,
    AhaConnectionError,
    AhaError,
    AhaRateLimitError,
    AhaResponseError,
    AhaServerError,
    AhaTimeoutError,
)
from dagster_aha.destinations.report import WriteOutcome

LOOKUP_FIELDS = "id,reference_num,name,custom_fields,url"
TRANSIENT = (AhaRateLimitError, AhaServerError, AhaTimeoutError, AhaConnectionError)
STATUS_FOR_KIND = {"create": "created", "update": "updated", "delete": "deleted"}
#: A POST answered with one of these may have been applied by Aha! (or behind a gateway).
UNKNOWN_POST_STATUSES = (500, 502, 503, 504)


def unknown_post_result(exc: BaseException) -> bool:
    """True when a failed POST may nevertheless have been applied."""
    if isinstance(exc, AhaAmbiguousWriteError):
        return True
    if isinstance(exc, AhaServerError) and exc.status in UNKNOWN_POST_STATUSES:
        return True
    return _unreadable_2xx(exc)


def _unreadable_2xx(exc: BaseException) -> bool:
    return isinstance(exc, AhaResponseError) and exc.status is not None and 200 <= exc.status < 300


def error_outcome(index: int, exc: BaseException, *, match_on: bool, post: bool) -> WriteOutcome:
    if not post and _unreadable_2xx(exc):
        # the server applied the update/delete but its answer could not be read; sending the
        # same PUT/DELETE again is harmless
        return WriteOutcome(
            index=index,
            status="ambiguous",
            http_status=exc.status if isinstance(exc, AhaError) else None,
            error=f"{exc} (the server accepted the write but its answer could not be read)",
            retryable=True,
        )
    if post and unknown_post_result(exc):
        status = exc.status if isinstance(exc, AhaError) else None
        if isinstance(exc, AhaResponseError):
            why = "the server accepted the create but its answer could not be read"
        elif status in (500, 503):
            why = f"HTTP {status}: the server may have applied the create before failing"
        else:
            why = "the create may or may not have happened (no usable response)"
        hint = (
            "not re-sent in this run; the next run looks it up by its match_on key"
            if match_on
            else "it was not re-sent (no match_on to look it up)"
        )
        return WriteOutcome(
            index=index,
            status="ambiguous",
            http_status=status,
            error=f"{exc} ({why}; {hint})",
            retryable=match_on,
        )
    if isinstance(exc, AhaError):
        return WriteOutcome(
            index=index,
            status="failed",
            http_status=exc.status,
            error=str(exc),
            retryable=isinstance(exc, TRANSIENT),
        )
    return WriteOutcome(
        index=index, status="failed", error=f"{type(exc).__name__}: {exc}", retryable=False
    )


def parse_response(
    response: Any, wrap_key: str | None
) -> tuple[str | None, str | None, str | None]:
    if not isinstance(response, Mapping):
        return None, None, None
    body = response.get(wrap_key) if wrap_key and wrap_key in response else response
    if not isinstance(body, Mapping):
        return None, None, None
    raw_id, ref, url = body.get("id"), body.get("reference_num"), body.get("url")
    return (
        str(raw_id) if raw_id is not None else None,
        str(ref) if ref is not None else None,
        str(url) if url is not None else None,
    )


class Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.value += n
