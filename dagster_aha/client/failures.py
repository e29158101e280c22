"""What a failed attempt means: sent or not (transport errors), and how long the server asks
the client to wait (``Retry-After``, ``X-Ratelimit-Reset``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Literal

import requests
import urllib3.exceptions

from dagster_aha.client.rate_windows import parse_reset
from dagster_aha.client.transport import AttemptDeadlineExceeded
from dagster_aha.client.waits import requested_wait

__all__ = ["asked_wait", "classify_failure", "retry_after"]


def cause_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its args, causes, contexts and urllib3 ``reason``s (requests wraps)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for nxt in (e.__cause__, e.__context__, getattr(e, "reason", None), *e.args):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


_NOT_SENT_TYPES: tuple[type[BaseException], ...] = (
    urllib3.exceptions.NewConnectionError,  # includes NameResolutionError
    urllib3.exceptions.ConnectTimeoutError,
)


def classify_failure(exc: requests.RequestException) -> Literal["not_sent", "timeout", "broken"]:
    """Whether a transport failure happened before the request was sent.

    ``not_sent``: connect failed (refused, DNS, connect timeout) — safe to retry any method.
    ``timeout``: the request was sent and the response did not arrive in time.
    ``broken``: the connection broke after (or while) sending.
    """
    if isinstance(exc, AttemptDeadlineExceeded):
        return "timeout" if exc.sent else "not_sent"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "not_sent"
    chain = list(cause_chain(exc))
    if isinstance(exc, requests.exceptions.ReadTimeout) or any(
        isinstance(e, urllib3.exceptions.ReadTimeoutError) for e in chain
    ):
        return "timeout"
    if isinstance(exc, requests.exceptions.ConnectionError) and any(
        isinstance(e, _NOT_SENT_TYPES) for e in chain
    ):
        return "not_sent"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    return "broken"


def asked_wait(resp: requests.Response) -> float | None:
    """What ``Retry-After`` asks for, uncapped (for the wait budget)."""
    return requested_wait(resp.headers)


def retry_after(resp: requests.Response) -> float | None:
    """Seconds to wait from ``Retry-After`` (or ``X-Ratelimit-Reset``), if present."""
    now = time.time()
    for name in ("Retry-After", "X-Ratelimit-Reset"):
        val = resp.headers.get(name)
        if val is not None:
            wait = parse_reset(val, now)
            if wait is not None:
                return wait
    return None
