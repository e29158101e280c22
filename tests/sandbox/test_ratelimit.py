from __future__ import annotations

import time

import requests

from dagster_aha.testing import AhaSandbox

from ._api import Api


def _headers(r: requests.Response) -> tuple[int, int, float]:
    return (
        int(r.headers["X-Ratelimit-Limit"]),
        int(r.headers["X-Ratelimit-Remaining"]),
        float(r.headers["X-Ratelimit-Reset"]),
    )


def test_no_limit_headers_and_no_429_when_not_enforced() -> None:
    """Limits switched off: nothing is throttled and no budget is advertised, so clients that
    pace by X-Ratelimit-* headers run at full speed."""
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=2,
        requests_per_second=3,
        enforce_rate_limits=False,
    ) as sb:
        api = Api(sb)
        rs = [api.get("me") for _ in range(6)]
        rs.append(requests.get(api.url("me"), timeout=5))
        assert [r.status_code for r in rs] == [200] * 6 + [401]
        for r in rs:
            assert "X-Ratelimit-Remaining" not in r.headers
        assert sb.stats.rate_limited == 0


def test_headers_on_every_response_when_enforced() -> None:
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=2,
        requests_per_second=10,
    ) as sb:
        api = Api(sb)
        rs = [api.get("me") for _ in range(3)]
        rs.append(requests.get(api.url("me"), timeout=5))  # 401 carries them too
        rs.append(api.get("features/NOPE"))
        assert [r.status_code for r in rs] == [200] * 3 + [401, 404]
        for r in rs:
            limit, remaining, reset = _headers(r)
            assert limit == 10 and 0 <= remaining <= 10
            assert reset >= int(time.time())
            assert "." not in r.headers["X-Ratelimit-Reset"]  # time_scale 1: integer epoch


def test_per_second_window_429_then_reset() -> None:
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=2,
        requests_per_second=4,
        requests_per_minute=1000,
        time_scale=2,
    ) as sb:
        api = Api(sb)
        statuses = [api.get("me") for _ in range(5)]
        assert [r.status_code for r in statuses[:4]] == [200] * 4
        assert [_headers(r)[1] for r in statuses[:4]] == [3, 2, 1, 0]
        limited = statuses[4]
        assert limited.status_code == 429 and "error" in limited.json()
        limit, remaining, reset = _headers(limited)
        assert (limit, remaining) == (4, 0)
        assert len(limited.headers["X-Ratelimit-Reset"].split(".")[1]) == 3
        assert reset - time.time() <= 0.5 + 0.01  # window = 1 s / time_scale
        time.sleep(max(0.0, reset - time.time()) + 0.005)
        assert api.get("me").status_code == 200
        assert sb.stats.rate_limited == 1 and sb.stats.by_status[429] == 1


def test_per_minute_window_429() -> None:
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=2,
        requests_per_second=100,
        requests_per_minute=6,
        time_scale=60,
    ) as sb:
        api = Api(sb)
        t0 = time.time()
        rs = [api.get("me") for _ in range(7)]
        assert [r.status_code for r in rs] == [200] * 6 + [429]
        limit, remaining, reset = _headers(rs[-1])
        assert (limit, remaining) == (6, 0)  # the minute window is the one reported
        assert t0 < reset <= time.time() + 1.0 + 0.01  # 60 s / 60
        time.sleep(max(0.0, reset - time.time()) + 0.005)
        assert api.get("me").status_code == 200


def test_rejected_requests_do_not_count() -> None:
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=2,
        requests_per_second=2,
        requests_per_minute=1000,
        time_scale=4,
    ) as sb:
        api = Api(sb)
        rs = [api.get("me") for _ in range(6)]
        assert [r.status_code for r in rs] == [200, 200, 429, 429, 429, 429]
        reset = _headers(rs[-1])[2]
        time.sleep(max(0.0, reset - time.time()) + 0.005)
        assert api.get("me").status_code == 200


def test_client_pacing_by_headers_reaches_ceiling_without_429() -> None:
    rps, scale, duration = 8, 5.0, 0.8  # 8 per 0.2 s window = 40 requests/s
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=2,
        requests_per_second=rps,
        requests_per_minute=10_000,
        time_scale=scale,
    ) as sb:
        api = Api(sb)
        ok = 0
        start = time.time()
        while time.time() - start < duration:
            r = api.get("me")
            assert r.status_code == 200, "a header-pacing client must never see a 429"
            ok += 1
            _limit, remaining, reset = _headers(r)
            if remaining == 0:
                time.sleep(max(0.0, reset - time.time()))
        elapsed = time.time() - start
        ceiling = rps * scale * elapsed
        assert ok >= 0.8 * ceiling, (ok, ceiling)
        assert sb.stats.rate_limited == 0
