"""A newcomer's first hour: what the sandbox CLI prints can be pasted as is, and the README's
component aimed at a local sandbox loads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster.components.testing import create_defs_folder_sandbox

from dagster_aha import AhaClient, AhaComponent, AhaResource

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_sandbox_cli_prints_the_base_url_and_key_to_paste() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_aha.testing", "--port", "0", "--no-rate-limits"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
    finally:
        proc.terminate()
        proc.wait(30)
    text = "".join(lines)
    base_url = re.search(r"base_url: (\S+)", text)
    api_key = re.search(r"api_key:\s+(\S+)", text)
    assert base_url and api_key, text
    assert "/api/v1/" in lines[0]  # the API URL is shown too, and pasting it works as well
    # what was printed, pasted (the process is gone: only validation, no request)
    for url in (base_url.group(1), base_url.group(1) + "/api/v1/", base_url.group(1) + "/api/v1"):
        assert AhaClient(base_url=url, api_key=api_key.group(1)).base_url == base_url.group(1)
        assert AhaResource(base_url=url, api_key=api_key.group(1)).get_client() is not None
    assert api_key.group(1) == "sandbox-key"


def test_pasted_sandbox_output_talks_to_the_sandbox() -> None:
    from dagster_aha.testing import AhaSandbox

    with AhaSandbox(enforce_rate_limits=False, products=1, features_per_release=1) as aha:
        printed = f"{aha.url}/api/v1/"
        with AhaClient(base_url=printed, api_key=aha.api_key) as client:
            assert client.me()["id"]


def test_readme_component_for_a_local_sandbox_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
    local = next(b for b in blocks if "127.0.0.1" in b)
    body = yaml.safe_load(local)
    assert body["attributes"]["base_url"].startswith("http://127.0.0.1")
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(component_cls=AhaComponent, defs_yaml_contents=body)
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, AhaComponent)
            assert defs.resources and "aha" in defs.resources


def test_progress_logs_never_say_page_1_of_0() -> None:
    """An incremental read with nothing changed gets one empty page and ``total_pages: 0``."""
    from dagster_aha.client import PageInfo
    from dagster_aha.sources.asset_reads import ReadProgress as _Progress
    from dagster_aha.testing import AhaSandbox

    infos: list[PageInfo] = []
    with AhaSandbox(enforce_rate_limits=False, products=1, features_per_release=2) as aha:
        client = aha.client()
        future = "2999-01-01T00:00:00Z"
        assert (
            list(
                client.iter_records(
                    "features", params={"updated_since": future}, on_page=infos.append
                )
            )
            == []
        )
    assert infos and infos[0].total_pages == 0  # what Aha! reports for an empty list

    lines: list[str] = []

    class Log:
        def info(self, msg: str) -> None:
            lines.append(msg)

    class Context:
        log = Log()

    progress = _Progress(Context(), "aha/features", every=10)  # type: ignore[arg-type]
    progress.start_path("features", 0)
    for info in infos:
        progress(info)
    assert lines and not [m for m in lines if re.search(r"page \d+/0\b", m)], lines
    assert "no records to read" in lines[0]
