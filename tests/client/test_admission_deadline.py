"""The wait for a request slot has a deadline: the rest of the request's ``wait_budget``.

When the account's budget stays held (other participants of a shared store, a long 429 block),
the request ends with :class:`AhaWaitBudgetError` before anything is sent, instead of waiting
for as long as the others keep the budget.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from dagster_aha.client import AhaClient, AhaWaitBudgetError, RateLimiter
from dagster_aha.client.budget_store import BudgetStore
from dagster_aha.client.ratelimit import AdmissionTimeout
from dagster_aha.destinations.outcomes import error_outcome
from dagster_aha.testing import AhaSandbox

BOUND = 8.0  # far above the budgets below (a loaded machine stays well inside it)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def test_acquire_gives_up_at_its_timeout_and_leaves_the_queue() -> None:
    ft = FakeTime()
    limiter = RateLimiter(2, 1000, clock=ft.clock, sleep=ft.sleep, rng=random.Random(0))
    limiter.acquire()
    limiter.acquire()
    with pytest.raises(AdmissionTimeout) as info:
        limiter.acquire(timeout=0.3)
    assert info.value.waited == pytest.approx(0.3, abs=0.01)
    assert ft.now == pytest.approx(1000.3, abs=0.01)  # it waited its timeout, not the window
    assert limiter.waiting == 0 and limiter.acquired == 2
    # the next caller is not held up by the one that gave up
    waited = limiter.acquire(timeout=5.0)
    assert 0 < waited < 1.0 and limiter.acquired == 3


def test_a_budget_held_by_others_ends_the_request_before_it_is_sent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'budget.sqlite3'}"
    with AhaSandbox(products=1, releases_per_product=1, features_per_release=1) as aha:
        client = AhaClient(api_key=aha.api_key, base_url=aha.url, budget_store=url, wait_budget=0.5)
        try:
            # another participant holds every slot of the short window (requests in flight)
            other = BudgetStore(url, origin="elsewhere")
            windows = client.rate_limiter.windows
            account = BudgetStore.account_key(aha.url)
            held = [other.try_acquire(account, windows, 0.0, 60.0)[0] for _ in range(20)]
            assert all(slot is not None for slot in held)
            start = time.monotonic()
            for method, path, body in (
                ("GET", "me", None),
                ("POST", "products/PRJ1/features", {"feature": {"name": "x"}}),
            ):
                with pytest.raises(AhaWaitBudgetError, match="before sending") as info:
                    client.request(method, path, json=body)
                assert info.value.budget == 0.5 and info.value.waited >= 0.5
                # a create that was never sent is a plain, retryable failure (not ambiguous)
                outcome = error_outcome(0, info.value, match_on=True, post=method == "POST")
                assert outcome.status == "failed" and outcome.retryable
            assert time.monotonic() - start < BOUND
            assert aha.stats.total == 0  # nothing reached the server
            assert client.rate_limiter.waiting == 0
            # the others' requests end: the budget is free again
            for slot in held:
                assert slot is not None
                other.finish(account, slot, rejected=True)
            assert client.me()["id"]
            assert aha.stats.total == 1
            other.close()
        finally:
            client.close()
