"""The process-wide :class:`~dagster_aha.client.ratelimit.RateLimiter` per Aha! account.

Aha! limits requests per account, not per client object: every :class:`AhaClient` of one
account (and one pair of limits, time scale and budget store) in a process shares one limiter.
"""

from __future__ import annotations

import threading

from dagster_aha.client.ratelimit import RateLimiter

__all__ = ["get_shared_limiter", "reset_shared_limiters"]

_LIMITERS: dict[tuple[str, float, float, float, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def get_shared_limiter(
    base_url: str,
    requests_per_second: float,
    requests_per_minute: float,
    *,
    time_scale: float = 1.0,
    budget_store: str | None = None,
) -> RateLimiter:
    """The process-wide limiter for one account and one pair of limits.

    ``time_scale`` divides both window lengths (a simulator with compressed time, e.g.
    ``AhaSandbox(time_scale=10)``: a 0.1 s "second" and a 6 s "minute"). ``budget_store``
    shares the budget with other processes and hosts (see :mod:`.budget_store`).
    """
    if time_scale <= 0:
        raise ValueError("time_scale must be > 0")
    from dagster_aha.client.budget_store import budget_store_for

    store = budget_store_for(budget_store)
    key = (
        base_url,
        float(requests_per_second),
        float(requests_per_minute),
        float(time_scale),
        store.url if store is not None else "process",
    )
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = RateLimiter(
                requests_per_second,
                requests_per_minute,
                second_window=1.0 / time_scale,
                minute_window=60.0 / time_scale,
                store=store,
                account=base_url,
            )
            _LIMITERS[key] = limiter
        return limiter


def reset_shared_limiters() -> None:
    """Forget every shared limiter and page-count hint (for tests)."""
    from dagster_aha.client.prefetch import reset_page_hints

    with _LIMITERS_LOCK:
        _LIMITERS.clear()
    reset_page_hints()
