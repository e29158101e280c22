from __future__ import annotations

import time

import pytest
import requests

from dagster_aha.testing import AhaSandbox, Fault

from ._api import Api


def _sandbox(faults: list[Fault], seed: int = 0) -> AhaSandbox:
    return AhaSandbox(
        products=1,
        releases_per_product=2,
        features_per_release=3,
        enforce_rate_limits=False,
        faults=faults,
        seed=seed,
    )


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "504"])
def test_status_faults(kind: str) -> None:
    with _sandbox([Fault(kind, path="me", times=1)]) as sb:
        api = Api(sb)
        r = api.get("me")
        assert r.status_code == int(kind) and "error" in r.json()
        # limits are off here: only an injected 429 advertises an (exhausted) budget
        assert ("X-Ratelimit-Remaining" in r.headers) == (kind == "429")
        if kind == "429":
            assert r.headers["X-Ratelimit-Remaining"] == "0"
            assert sb.stats.rate_limited == 1
        assert api.get("me").status_code == 200
        assert sb.stats.faults_injected == {kind: 1}
        assert [e.fault for e in sb.requests] == [kind, None]


def test_html_and_malformed_json() -> None:
    with _sandbox(
        [Fault("html", path="features", times=1), Fault("malformed_json", path="features", times=1)]
    ) as sb:
        api = Api(sb)
        html = api.get("features")
        assert html.status_code == 500 and html.headers["Content-Type"].startswith("text/html")
        assert html.text.lstrip().startswith("<!DOCTYPE html>")
        bad = api.get("features")
        assert bad.status_code == 200 and bad.headers["Content-Type"].startswith("application/json")
        with pytest.raises(ValueError):
            bad.json()
        assert bad.text.startswith('{"features":[')
        assert api.get("features").json()["features"]
        assert sb.stats.faults_injected == {"html": 1, "malformed_json": 1}


def test_reset_before_does_not_apply_write() -> None:
    with _sandbox(
        [Fault("reset_before", method="POST", path=r"releases/.*/features", times=1)]
    ) as sb:
        api = Api(sb)
        n = sb.state.count("features")
        with pytest.raises(requests.ConnectionError):
            api.post("releases/PRJ1-R-1/features", {"feature": {"name": "Lost"}})
        assert sb.state.count("features") == n
        assert sb.requests[-1].status is None and sb.requests[-1].fault == "reset_before"
        assert api.get("me").status_code == 200  # GET not matched by method


def test_reset_after_applies_write() -> None:
    with _sandbox([Fault("reset_after", method="POST", times=1)]) as sb:
        api = Api(sb)
        n = sb.state.count("features")
        with pytest.raises(requests.ConnectionError):
            api.post("releases/PRJ1-R-1/features", {"feature": {"name": "Ambiguous"}})
        assert sb.state.count("features") == n + 1
        names = [f["name"] for f in api.get("features", per_page=200).json()["features"]]
        assert "Ambiguous" in names
        assert sb.stats.faults_injected == {"reset_after": 1}
        assert sb.stats.connections_dropped == 1


def test_slow_fault() -> None:
    with _sandbox([Fault("slow", path="me", times=1, delay=0.3)]) as sb:
        api = Api(sb)
        t0 = time.perf_counter()
        assert api.get("me").status_code == 200
        assert time.perf_counter() - t0 >= 0.3
        api.get("me")
        assert sb.stats.faults_injected == {"slow": 1}  # times=1: the second answer is not slowed


def test_after_and_times() -> None:
    with _sandbox([Fault("503", path="me", after=1, times=2)]) as sb:
        api = Api(sb)
        assert [api.get("me").status_code for _ in range(5)] == [200, 503, 503, 200, 200]


def test_path_is_a_full_match() -> None:
    with _sandbox([Fault("500", path="features")]) as sb:
        api = Api(sb)
        assert api.get("features").status_code == 500
        assert api.get("features/PRJ1-1").status_code == 200
        assert api.get("products/PRJ1/features").status_code == 200


def _sequence(seed: int, per_page: int, n: int = 40) -> list[int]:
    with _sandbox([Fault("504", path="features", probability=0.3)], seed=seed) as sb:
        api = Api(sb)
        return [api.get("features", per_page=per_page).status_code for _ in range(n)]


def test_probability_is_deterministic_and_504_likelier_for_big_pages() -> None:
    a, b = _sequence(1, 10), _sequence(1, 10)
    assert a == b and 504 in a and 200 in a
    assert _sequence(2, 10) != a
    big = _sequence(1, 200)  # probability doubled (0.6) for per_page=200
    assert big.count(504) > a.count(504)


def test_set_faults_replaces_plan() -> None:
    with _sandbox([Fault("500")]) as sb:
        api = Api(sb)
        assert api.get("me").status_code == 500
        sb.set_faults([])
        assert api.get("me").status_code == 200
        sb.set_faults([Fault("502", times=1)])
        assert api.get("me").status_code == 502
        assert sb.stats.faults_injected == {"500": 1, "502": 1}


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault("418")
    with pytest.raises(ValueError):
        Fault("500", probability=2)
