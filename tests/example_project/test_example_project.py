"""The example project: loads with no API call, and the demo runs end to end on the sandbox."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import requests

from dagster_aha import AhaResource
from dagster_aha.testing import AhaSandbox

EXAMPLE_ROOT = Path(__file__).resolve().parents[2] / "example_project"

EXPECTED_ASSETS = {
    "aha/products",
    "aha/releases",
    "aha/features",
    "aha/epics",
    "aha/features_by_release_report",
    "aha/features_by_status_pivot",
    "intake/feature_requests",
    "aha/intake_features",
    "aha/intake_features_dead_letter",
    "analytics/feature_status_by_release",
}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AHA_EXAMPLE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # restored after run_demo overrides it
    monkeypatch.delenv("AHA_SUBDOMAIN", raising=False)
    monkeypatch.delenv("AHA_API_KEY", raising=False)
    monkeypatch.delenv("AHA_EXAMPLE_RELEASE_ID", raising=False)
    return tmp_path / "data"


def _load_defs() -> dg.Definitions:
    from aha_example.definitions import defs

    return defs()


@pytest.mark.parametrize("real_account", [False, True])
def test_definitions_load_without_any_api_call_or_server(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, real_account: bool
) -> None:
    if real_account:
        monkeypatch.setenv("AHA_SUBDOMAIN", "acme")
        monkeypatch.setenv("AHA_API_KEY", "secret-key-value")
    calls: list[str] = []

    def no_http(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(request.url))
        raise AssertionError(f"HTTP request while loading definitions: {request.url}")

    def no_sandbox(self: AhaSandbox) -> AhaSandbox:
        calls.append("AhaSandbox.start")
        raise AssertionError("a sandbox was started while loading definitions")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", no_http)
    monkeypatch.setattr(AhaSandbox, "start", no_sandbox)

    defs = _load_defs()
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS
    assert defs.resolve_schedule_def("aha_daily_read_schedule").cron_schedule == "0 6 * * *"
    assert defs.resolve_sensor_def("intake_features_sensor").job_name == "intake_features_job"
    assert calls == []

    resource = (defs.resources or {})["aha"]
    assert isinstance(resource, AhaResource)
    if real_account:
        # The real account is reached through env var references, read at run time only.
        assert isinstance(resource.api_key, dg.EnvVar)
        assert resource.api_key.env_var_name == "AHA_API_KEY"
        assert "secret-key-value" not in repr(resource)
        # No release named: the example must not write into the account (dry runs only).
        from aha_example.defs.intake import build_intake_destination

        assert build_intake_destination().dry_run is True
        monkeypatch.setenv("AHA_EXAMPLE_RELEASE_ID", "ACME-R-7")
        assert build_intake_destination().dry_run is False
        assert build_intake_destination().path_params["release_id"] == "ACME-R-7"
    else:
        from aha_example.aha import SandboxAhaResource

        assert isinstance(resource, SandboxAhaResource)
        assert Path(resource.state_path).parent == data_dir
        from aha_example.defs.intake import build_intake_destination

        assert build_intake_destination().dry_run is False


def test_demo_end_to_end_twice_creates_no_duplicates(data_dir: Path) -> None:
    from aha_example.demo import run_demo

    out = io.StringIO()
    first = run_demo(out=out)
    text = out.getvalue()
    assert first["write"]["success"] and first["read_success"], text
    assert first["write"]["created"] == 9
    assert first["write"]["failed"] == 1  # the CSV row without a title
    assert first["write"]["dead_letter"] == 1
    assert first["read"]["aha/features"]["rows"] == 240 + 9
    assert first["read"]["aha/features"]["sync_mode"] == "full"
    assert first["read"]["aha/products"]["rows"] == 2
    assert first["read"]["aha/features_by_release_report"]["rows"] > 0
    assert first["read"]["aha/features_by_status_pivot"]["rows"] > 0
    # The demo refreshed the component's state first: one asset per custom table.
    assert "refresh the Aha! component's state" in text
    assert first["read"]["aha/custom_table_prj1_customers"]["table_rows"] == 3
    assert first["read"]["aha/custom_table_prj2_customers"]["table_rows"] == 3
    assert first["intake_features"] == first["intake_distinct"] == 9
    assert first["status_rows"] > 0
    assert "DuckDB file: " in text and "Query it:" in text
    # the refused row is explained as deliberate; the printed table is labelled as a sample
    assert "deliberate" in text and "FR-1010" in text
    sample = re.search(r"a sample of (\d+) of its (\d+) rows", text)
    assert sample and int(sample.group(2)) == first["status_rows"], text
    assert int(sample.group(1)) == min(12, first["status_rows"])
    assert (data_dir / "sandbox_state.json").exists()

    state = json.loads((data_dir / "sandbox_state.json").read_text())
    assert json.dumps(state).count("FR-1001") >= 1

    second = run_demo(out=io.StringIO())
    assert second["write"]["created"] == 0
    # diffing: the records already hold the values sent, so no update is sent
    assert second["write"]["updated"] == 0
    assert second["write"]["unchanged"] + second["write"]["skipped"] == 9
    assert second["read"]["aha/features"]["sync_mode"] == "incremental"
    assert second["read"]["aha/features"]["table_rows"] == 240 + 9
    assert second["intake_features"] == second["intake_distinct"] == 9

    # With the state stored, the definitions know the custom tables and still load offline.
    def no_http(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"HTTP request while loading definitions: {request.url}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.adapters.HTTPAdapter, "send", no_http)
        patch.setattr(AhaSandbox, "start", no_http)
        defs = _load_defs()
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS | {
        "aha/custom_table_prj1_customers",
        "aha/custom_table_prj2_customers",
    }
    features = defs.resolve_asset_graph().get(dg.AssetKey(["aha", "features"]))
    columns = {c.name for c in features.metadata["dagster/column_schema"].columns}
    assert {"custom_fields__external_id", "custom_fields__priority"} <= columns

    # The one-line query the demo prints returns rows.
    with duckdb.connect(first["duckdb"], read_only=True) as conn:
        rows = conn.execute("SELECT * FROM analytics.feature_status_by_release").fetchall()
    assert rows
    assert sum(r[3] for r in rows) == 240 + 9
    assert sum(r[4] for r in rows) == 9


def test_sandbox_sessions_persist_writes_and_take_turns(tmp_path: Path) -> None:
    from aha_example.aha import sandbox_session

    state, lock = tmp_path / "state.json", tmp_path / "sandbox.lock"
    small: dict[str, Any] = {"products": 1, "releases_per_product": 1, "features_per_release": 2}
    log_lines: list[str] = []

    class _Log:
        def info(self, msg: str) -> None:
            log_lines.append(msg)

    with sandbox_session(state, lock, log=_Log(), **small) as sandbox:
        client = sandbox.client()
        client.request(
            "POST", "releases/PRJ1-R-1/features", json={"feature": {"name": "Persisted"}}
        )
        client.close()
    assert any("Aha! sandbox in use" in line for line in log_lines)

    # A second process-like session waits for the first one, then sees its write.
    order: list[str] = []
    entered = threading.Event()

    def holder() -> None:
        with sandbox_session(state, lock, log=_Log()):
            order.append("first-in")
            entered.set()
            time.sleep(0.5)
            order.append("first-out")

    thread = threading.Thread(target=holder)
    thread.start()
    assert entered.wait(10)
    with sandbox_session(state, lock, log=_Log()) as sandbox:
        order.append("second-in")
        names = [f["name"] for f in sandbox.state.records("features")]
    thread.join()
    assert order == ["first-in", "first-out", "second-in"]
    assert "Persisted" in names
    assert any("waiting" in line for line in log_lines)


def test_dg_check_defs_accepts_the_example_project(data_dir: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs"],
        cwd=EXAMPLE_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in (result.stdout + result.stderr)
