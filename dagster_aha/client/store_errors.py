"""The budget store's database failures: one typed error (:class:`AhaBudgetStoreError`, the
password never shown), after retrying the "database is locked" that SQLite sometimes returns
without waiting for its busy timeout."""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from dagster_aha.client.errors import AhaBudgetStoreError
from dagster_aha.client.store_settings import describe_store

__all__ = [
    "LOCKED_RETRY_S",
    "SQLITE_BUSY_TIMEOUT_S",
    "guarded",
    "is_locked",
    "retry_locked",
    "store_errors",
]


@contextlib.contextmanager
def store_errors(url: str, what: str) -> Iterator[None]:
    """Turn a database failure into :class:`AhaBudgetStoreError` (the password never shown)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        line = detail[0][:200] if detail else ""
        try:
            password = make_url(url).password
        except Exception:
            password = None
        if password:
            line = line.replace(str(password), "***")
        shown = describe_store(url)
        err = AhaBudgetStoreError(
            message=f"budget store {shown} could not {what}: {type(exc).__name__}: {line}"
        )
        err.store = shown
        raise err from None


_P = ParamSpec("_P")
_R = TypeVar("_R")

#: How long SQLite waits for another connection's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30.0
#: How long a SQLite store retries a "database is locked" that SQLite returned without waiting
#: for the busy timeout (that one is raised).
LOCKED_RETRY_S = 30.0


def is_locked(exc: BaseException) -> bool:
    """SQLite's SQLITE_BUSY / SQLITE_LOCKED, as SQLAlchemy raises it."""
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (and their extended codes)
    text = str(orig).lower()
    return "database is locked" in text or "database table is locked" in text


def retry_locked(
    fn: Callable[[], _R],
    deadline_s: float = LOCKED_RETRY_S,
    waited_s: float = SQLITE_BUSY_TIMEOUT_S / 2,
) -> _R:
    """``fn()``, again after a short random pause while SQLite says "database is locked" at
    once, up to ``deadline_s``. SQLite returns that without its busy wait in a few races
    (seen with several processes opening a new store file at the same moment: 2 of 90
    openings); every transaction here is rolled back when it fails, so a retry is safe. An
    attempt that failed after waiting ``waited_s`` or more (the busy timeout ran out: another
    process holds the lock) is not retried."""
    from sqlalchemy.exc import OperationalError

    deadline = time.monotonic() + deadline_s
    pause = 0.005
    while True:
        started = time.monotonic()
        try:
            return fn()
        except OperationalError as exc:
            now = time.monotonic()
            if not is_locked(exc) or now - started >= waited_s or now + pause > deadline:
                raise
        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 0.25)


def guarded(what: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """A :class:`BudgetStore` method whose database failures raise AhaBudgetStoreError (after
    the retries of :func:`retry_locked`)."""

    def deco(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(fn)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with store_errors(getattr(args[0], "url", ""), what):
                return retry_locked(lambda: fn(*args, **kwargs))

        return wrapper

    return deco
