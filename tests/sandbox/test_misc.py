from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from dagster_aha.testing import AhaSandbox

from ._api import AUTH, Api


def test_latency_does_not_block_other_requests() -> None:
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=2,
        enforce_rate_limits=False,
        latency=0.25,
    ) as sb:
        api = Api(sb)
        durations: list[float] = []

        def one() -> None:
            t0 = time.perf_counter()
            assert requests.get(api.url("me"), headers=AUTH, timeout=5).status_code == 200
            durations.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = time.perf_counter() - t0
        assert len(durations) == 4 and min(durations) >= 0.25
        assert total < 0.25 * 2  # concurrent, not serialized (4 x 0.25 = 1 s)


def test_latency_jitter_is_bounded() -> None:
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=2,
        enforce_rate_limits=False,
        latency=0.05,
        latency_jitter=0.1,
    ) as sb:
        api = Api(sb)
        for _ in range(3):
            t0 = time.perf_counter()
            api.get("me")
            assert 0.05 <= time.perf_counter() - t0 < 5.0  # latency applied, jitter bounded


def test_request_log_and_stats(aha_sandbox: AhaSandbox) -> None:
    api = Api(aha_sandbox)
    api.get("features", per_page=2, fields="name")
    api.put("epics/PRJ1-E-1", {"epic": {"name": "E"}}, disable_mailers="true")
    api.get("nope")
    log = aha_sandbox.requests
    assert [(e.method, e.path, e.status) for e in log] == [
        ("GET", "features", 200),
        ("PUT", "epics/PRJ1-E-1", 200),
        ("GET", "nope", 404),
    ]
    assert log[0].query == {"per_page": "2", "fields": "name"} and log[0].json is None
    assert log[1].json == {"epic": {"name": "E"}} and log[1].query["disable_mailers"] == "true"
    assert log[1].raw_path == "/api/v1/epics/PRJ1-E-1" and log[1].time <= time.time()
    st = aha_sandbox.stats
    assert (st.total, st.by_status, st.rate_limited) == (3, {200: 2, 404: 1}, 0)
    aha_sandbox.clear_requests()
    assert aha_sandbox.requests == [] and aha_sandbox.stats.total == 0


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    snap = tmp_path / "aha.json"
    with AhaSandbox(
        products=1, releases_per_product=2, features_per_release=3, enforce_rate_limits=False
    ) as sb:
        api = Api(sb)
        made = api.post("releases/PRJ1-R-1/features", {"feature": {"name": "Kept"}}).json()
        sb.dump(snap)
        features = sb.state.records("features")
    assert json.loads(snap.read_text())["format"] == "dagster-aha-sandbox/1"
    loaded = AhaSandbox.load(snap, enforce_rate_limits=False)
    assert loaded.state.records("features") == features
    with loaded:
        api = Api(loaded)
        got = api.get(f"features/{made['feature']['reference_num']}").json()["feature"]
        assert got["name"] == "Kept"
        nxt = api.post("releases/PRJ1-R-1/features", {"feature": {"name": "Next"}}).json()
        assert nxt["feature"]["reference_num"] == "PRJ1-8"  # counters restored (7 was "Kept")
        assert nxt["feature"]["id"] not in {f["id"] for f in features}
        assert nxt["feature"]["updated_at"] > got["updated_at"]
    with pytest.raises(ValueError):
        AhaSandbox(data={"records": {}})


def test_stop_releases_port_and_keep_alive_connections() -> None:
    sb = AhaSandbox(products=1, releases_per_product=1, features_per_release=1).start()
    url = sb.url
    session = requests.Session()
    session.headers.update(AUTH)
    first = session.get(f"{url}/api/v1/me", timeout=5)
    assert first.status_code == 200 and first.headers.get("Connection") != "close"
    assert session.get(f"{url}/api/v1/me", timeout=5).status_code == 200  # reused connection
    sb.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{url}/api/v1/me", timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/api/v1/me", headers=AUTH, timeout=2)
    with pytest.raises(RuntimeError):
        _ = sb.url
    sb.stop()  # idempotent
    session.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serves_and_stops(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    with AhaSandbox(products=1, releases_per_product=1, features_per_release=2, seed=5) as sb:
        sb.dump(snap)
        me = Api(sb).get("me").json()
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster_aha.testing",
            "--port",
            str(port),
            "--no-rate-limits",
            "--latency",
            "0",
            "--seed",
            "5",
            "--data",
            str(snap),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 15
        r = None
        while time.time() < deadline:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/api/v1/me", headers=AUTH, timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        assert r is not None and r.status_code == 200
        assert r.json() == me
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/api/v1/" in out
    # what to paste: the base_url and the sandbox's own key (a local sandbox, not an account)
    assert f"base_url: http://127.0.0.1:{port}\n" in out
    assert "api_key:  sandbox-key\n" in out


def test_client_and_resource_helpers(aha_sandbox: AhaSandbox) -> None:
    pytest.importorskip("dagster_aha.client")
    with aha_sandbox.client() as client:
        assert client.me()["id"] == aha_sandbox.state.me_id
        assert client.backoff_base == 0.01
        assert client.requests_per_second >= 1000  # limits off -> client never throttles
    resource = aha_sandbox.resource()
    assert resource.base_url == aha_sandbox.url
    assert aha_sandbox.requests[-1].path == "me"


def test_responses_are_utf8_json_of_the_stored_values(api: Api) -> None:
    """Whichever encoder writes a body (orjson when installed, else the json module), a client
    reads back exactly the values the sandbox stored: non-ASCII text, U+2028, big numbers."""
    name = "Café ✓ \u2028 \U0001f680"
    created = api.post(
        "releases/PRJ1-R-1/features", {"feature": {"name": name, "description": "<p>é</p>"}}
    )
    assert created.status_code == 200, created.text
    ref = created.json()["feature"]["reference_num"]
    got = api.get(f"features/{ref}")
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(got.content.decode("utf-8"))["feature"]["name"] == name
    listed = api.get("releases/PRJ1-R-1/features", fields="name", per_page=200)
    assert name in [f["name"] for f in listed.json()["features"]]


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**70},  # beyond 64 bits
        {"lone": "\ud800"},  # a lone surrogate
        {1: "non-string key"},
        {"plain": ["é", 1.5, None, True]},
    ],
)
def test_the_encoder_writes_what_the_json_module_reads_back(value: dict[Any, Any]) -> None:
    from dagster_aha.testing.http import encode_json

    body = encode_json(value)
    assert json.loads(body) == json.loads(json.dumps(value))
