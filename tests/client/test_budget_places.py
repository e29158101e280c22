"""A participant of the budget store is not starved by others with a longer lead.

A process on a host with no round trips in the store yet has lead 0: it sees a slot free a
whole window after its answer, while the others (lead > 0) see it free earlier and take it.
After waiting the short window it takes a *place*, which the others count as a request in
flight; it sends with it once the slots that came before the place have left the window.

The simulation drives real :class:`BudgetStore` objects (SQLite, the store's clock replaced by
a simulated one) and a server that counts each request when it admits it; it fails on any
window holding more than its limit. The last test does the same with real limiters, clients
and threads against an enforcing sandbox.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dagster_aha.client import AhaClient, RateLimiter
from dagster_aha.client.budget_slots import Place
from dagster_aha.client.budget_store import BudgetStore
from dagster_aha.testing import AhaSandbox

SPAN, LIMIT = 1.0, 5
WINDOWS = [(SPAN, LIMIT), (60.0, 10_000)]
ACCOUNT = "acct"
RTT = 0.2


class SimClock:
    now = 1_000_000.0


@dataclass
class Agent:
    name: str
    store: BudgetStore
    lead: float  # the lead it sends with
    places: bool  # takes a place after waiting the short window
    waiting_since: float = 0.0
    place: Place | None = None
    sends: list[float] = field(default_factory=list)
    longest_wait: float = 0.0


def _simulate(
    tmp_path: Path, *, veterans: int, newcomers: int, places: bool, horizon: float = 20.0
) -> tuple[list[Agent], list[float]]:
    """Every agent always wants to send (one request at a time). Returns the agents and the
    server's admission times (checked against the window as they happen)."""
    clock = SimClock()
    rng = random.Random(7)
    url = f"sqlite:///{tmp_path / 'sim.sqlite3'}"

    def store(origin: str) -> BudgetStore:
        s = BudgetStore(url, origin=origin)
        s._now = lambda conn: clock.now  # type: ignore[method-assign]
        return s

    agents = [Agent(f"v{i}", store("host-a"), lead=0.15, places=places) for i in range(veterans)]
    agents += [Agent(f"n{i}", store("host-b"), lead=0.0, places=places) for i in range(newcomers)]
    start = clock.now
    events: list[tuple[float, int, str, int, int]] = []  # (time, seq, kind, agent, slot)
    seq = 0

    def push(at: float, kind: str, agent: int, slot: int = 0) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, agent, slot))

    for i, a in enumerate(agents):
        a.waiting_since = start
        push(start + 0.001 * i, "poll", i)
    admitted: list[float] = []
    while events:
        at, _, kind, i, slot = heapq.heappop(events)
        if at > start + horizon:
            break
        clock.now = at
        a = agents[i]
        if kind == "admit":  # the server counts it now: never more than LIMIT in a window
            inside = [t for t in admitted if t > at - SPAN]
            assert len(inside) < LIMIT, f"{len(inside) + 1} requests admitted within {SPAN} s"
            admitted.append(at)
            continue
        if kind == "answer":
            a.store.finish(ACCOUNT, slot, rejected=False, rtt=RTT)
            a.waiting_since = at
            push(at, "poll", i)
            continue
        if a.places and a.place is None and at - a.waiting_since >= SPAN:
            a.place = a.store.take_place(ACCOUNT, 10.0)
        if a.place is not None:
            token, wait, held = a.store.try_acquire_in_place(
                ACCOUNT, WINDOWS, a.lead, 30.0, a.place
            )
            assert held or token is not None, "a place kept alive must not expire"
            if token is not None:
                a.place = None
        else:
            token, wait = a.store.try_acquire(ACCOUNT, WINDOWS, a.lead, 30.0)
        if token is None:
            push(at + max(wait, 0.001), "poll", i)
            continue
        a.longest_wait = max(a.longest_wait, at - a.waiting_since)
        a.sends.append(at)
        # admitted no sooner than the lead it assumed, answered one round trip after the send
        push(at + rng.uniform(a.lead, RTT - 0.01), "admit", i)
        push(at + RTT, "answer", i, token)
    for a in agents:
        a.store.close()
    return agents, admitted


def test_without_places_a_newcomer_starves_while_the_others_send(tmp_path: Path) -> None:
    agents, admitted = _simulate(tmp_path, veterans=4, newcomers=1, places=False)
    newcomer = agents[-1]
    assert len(admitted) > 80  # the others keep the window full
    # nothing after its first requests, sent before the windows filled (20 s simulated)
    assert newcomer.sends and all(t < admitted[0] + 2 * SPAN + RTT for t in newcomer.sends)


def test_a_newcomer_with_a_place_sends_within_two_windows_and_no_window_overflows(
    tmp_path: Path,
) -> None:
    agents, admitted = _simulate(tmp_path, veterans=4, newcomers=1, places=True)
    newcomer, veterans = agents[-1], agents[:-1]
    assert len(newcomer.sends) >= 8
    # a short window before it takes a place, then the slots before the place leave: one
    # round trip plus a window
    assert newcomer.longest_wait <= 2 * SPAN + RTT + 0.1
    assert all(len(v.sends) >= 8 for v in veterans)  # nobody is starved in turn
    # the budget is used: a place leaves a slot unused for at most about a round trip
    assert len(admitted) >= 0.8 * LIMIT * 20.0


def test_places_of_several_newcomers_keep_the_window_exact(tmp_path: Path) -> None:
    agents, admitted = _simulate(tmp_path, veterans=3, newcomers=3, places=True)
    assert all(len(a.sends) >= 5 for a in agents)
    # places are served in the order they were taken: each waits for those before it to
    # have been sent, answered and to have left the window
    assert all(a.longest_wait <= SPAN + 3 * (SPAN + RTT) + 0.1 for a in agents[3:])
    assert len(admitted) >= 0.75 * LIMIT * 20.0


def test_an_expired_place_is_not_used_and_an_unused_one_is_given_back(tmp_path: Path) -> None:
    store = BudgetStore(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    windows = [(1.0, 1), (60.0, 100)]
    held, _ = store.try_acquire(ACCOUNT, windows, 0.0, 30.0)
    assert held is not None  # the window is full
    place = store.take_place(ACCOUNT, 0.05)
    assert store.in_window(ACCOUNT, 1.0) == 2  # others count the place as in flight
    time.sleep(0.1)
    assert not store.keep_place(ACCOUNT, place, 10.0)  # expired: gone for good
    token, wait, still = store.try_acquire_in_place(ACCOUNT, windows, 0.0, 30.0, place)
    assert token is None and wait > 0 and not still
    place = store.take_place(ACCOUNT, 10.0)
    assert store.keep_place(ACCOUNT, place, 10.0)
    store.cancel_place(ACCOUNT, place)
    assert store.in_window(ACCOUNT, 1.0) == 1
    store.close()


def test_a_sent_place_keeps_its_time_and_a_later_place_waits_for_it(tmp_path: Path) -> None:
    store = BudgetStore(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    windows = [(1.0, 1), (60.0, 100)]
    first = store.take_place(ACCOUNT, 10.0)
    second = store.take_place(ACCOUNT, 10.0)
    # nothing came before the first place: it is sent (the second place counted it)
    token, _, still = store.try_acquire_in_place(ACCOUNT, windows, 0.0, 30.0, first)
    assert token == first[0] and not still
    # the first place's send came before the second place: it waits until that has left
    token, wait, still = store.try_acquire_in_place(ACCOUNT, windows, 0.0, 30.0, second)
    assert token is None and wait > 0 and still
    store.finish(ACCOUNT, first[0], rejected=False, rtt=0.1)
    token, wait, still = store.try_acquire_in_place(ACCOUNT, windows, 0.0, 30.0, second)
    assert token is None and 0.5 < wait <= 1.01  # answered now: out of the window in 1 s
    store.close()


def test_places_leave_no_window_shorter_than_its_limit(tmp_path: Path) -> None:
    """Places held at once are served in order; none shrinks the window of an earlier one
    (a place is not a request: it turns into one when its owner may send)."""
    store = BudgetStore(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    windows = [(1.0, 2), (60.0, 100)]
    flying, _ = store.try_acquire(ACCOUNT, windows, 0.0, 30.0)
    assert flying is not None
    first, second, _third = (store.take_place(ACCOUNT, 10.0) for _ in range(3))
    # an ordinary caller counts every place: the window is full for it
    token, wait = store.try_acquire(ACCOUNT, windows, 0.0, 30.0)
    assert token is None and wait > 0
    # the first place counts none of the later ones: one request out of two, it may send
    token, _, still = store.try_acquire_in_place(ACCOUNT, windows, 0.0, 30.0, first)
    assert token == first[0] and not still
    # the second one waits for a request to leave the window, not for the third place
    token, wait, still = store.try_acquire_in_place(ACCOUNT, windows, 0.0, 30.0, second)
    assert token is None and still and wait < 0.05  # both requests in flight: look again soon
    store.finish(ACCOUNT, flying, rejected=False, rtt=0.1)
    store.finish(ACCOUNT, first[0], rejected=False, rtt=0.1)
    token, wait, still = store.try_acquire_in_place(ACCOUNT, windows, 0.0, 30.0, second)
    assert token is None and still and 0.9 < wait <= 1.01  # a window after the first answer
    assert store.in_window(ACCOUNT, 1.0) == 4  # two requests, two places
    store.close()


def test_a_wait_in_line_or_for_the_own_windows_takes_no_place(tmp_path: Path) -> None:
    """A place is for a caller the store keeps waiting, not for the time it spent behind the
    callers ahead of it in its own process, or waiting for its own process's sends to leave
    the window: a lone busy process takes none, though most of its callers wait in line for
    longer than a window."""
    rps, rtt = 10, 0.05
    limiter = RateLimiter(
        rps, 100_000, store=BudgetStore(f"sqlite:///{tmp_path / 'busy.sqlite3'}"), account="a"
    )
    stop = threading.Event()
    waits: list[float] = []

    def keep_sending() -> None:
        while not stop.is_set():
            waits.append(limiter.acquire(timeout=30.0))
            time.sleep(rtt)
            limiter.update_from_headers({}, latency=rtt)

    threads = [threading.Thread(target=keep_sending) for _ in range(24)]
    for t in threads:
        t.start()
    time.sleep(3.5)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert limiter.acquired >= 2 * rps  # the budget was used
    assert sum(w > 1.0 for w in waits) >= rps  # many callers waited over a window in line
    assert limiter.places == 0
    assert limiter.store is not None
    limiter.store.close()


def test_a_process_on_a_new_host_gets_its_requests_through_a_busy_account(
    tmp_path: Path,
) -> None:
    """Two busy participants of one host and a newcomer from another, sharing a host store
    (three limiters in one process, as if three processes): the newcomer's requests go out
    while the others keep the budget full, and the server rejects nothing."""
    url, rps = f"sqlite:///{tmp_path / 'fleet.sqlite3'}", 8
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=1,
        latency=0.08,
        latency_jitter=0.02,
        requests_per_second=rps,
        requests_per_minute=100_000,
    ) as aha:

        def client(origin: str) -> AhaClient:
            limiter = RateLimiter(
                rps, 100_000, store=BudgetStore(url, origin=origin), account=aha.url
            )
            return AhaClient(
                api_key=aha.api_key, base_url=aha.url, rate_limiter=limiter, wait_budget=60.0
            )

        busy = [client("host-a"), client("host-a")]
        stop = threading.Event()
        errors: list[BaseException] = []

        def keep_busy(c: AhaClient) -> None:
            try:
                while not stop.is_set():
                    c.me()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=keep_busy, args=(c,)) for c in busy for _ in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.5)  # the busy ones have their lead and fill every window
            newcomer = client("host-b")
            before = aha.stats.total
            for _ in range(4):
                assert newcomer.me()["id"]
            during = aha.stats.total - before
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert not errors
        assert newcomer.rate_limiter.places >= 1  # it had to wait, and took a place
        assert during > 4 * 2  # the others kept sending meanwhile
        assert aha.stats.rate_limited == 0  # no window held more than its limit
        for c in [*busy, newcomer]:
            c.close()
