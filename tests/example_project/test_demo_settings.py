"""The demo validates its account settings once, up front, with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aha_example import demo

EXAMPLE_ROOT = Path(__file__).resolve().parents[2] / "example_project"


@pytest.mark.parametrize(
    ("subdomain", "key", "says"),
    [
        ("acme", "", "AHA_API_KEY is\\s+empty"),
        ("acme", "   ", "AHA_API_KEY is\\s+empty"),
        ("", "k-123", "AHA_SUBDOMAIN is not"),
        ("https://acme.example.com", "k-123", "not an Aha! account name"),
        ("acme/../x", "k-123", "not an Aha! account name"),
        ("acme", " k-123 ", "whitespace"),
    ],
)
def test_unusable_settings_are_refused_in_one_line_before_anything_runs(
    subdomain: str, key: str, says: str, tmp_path: Path
) -> None:
    env = {"AHA_SUBDOMAIN": subdomain, "AHA_API_KEY": key}
    with pytest.raises(demo.SettingsError, match=says) as info:
        demo.check_settings(env)
    assert "\n" not in str(info.value) and "k-123" not in str(info.value)


@pytest.mark.parametrize(
    "given", ["https://acme.aha.io", "https://acme.aha.io/", "acme.aha.io", "http://ACME.aha.io"]
)
def test_an_account_url_is_read_as_the_account_name(given: str) -> None:
    env = {"AHA_SUBDOMAIN": given, "AHA_API_KEY": "k-123"}
    note = demo.check_settings(env)
    assert env["AHA_SUBDOMAIN"] == "acme" and note and "'acme'" in note


def test_no_settings_means_the_sandbox() -> None:
    assert demo.check_settings({}) is None


def test_the_demo_command_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{EXAMPLE_ROOT.parent}:{EXAMPLE_ROOT}",
        "AHA_SUBDOMAIN": "acme",
        "AHA_API_KEY": "",
        "AHA_EXAMPLE_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "aha_example.demo"],
        cwd=EXAMPLE_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "AHA_API_KEY" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_the_example_resource_description_is_not_restructured_text() -> None:
    from aha_example.aha import SandboxAhaResource

    doc = SandboxAhaResource.__doc__ or ""
    for rst in ("::", "``", ":class:", ":func:", ".. "):
        assert rst not in doc, rst
