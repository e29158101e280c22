"""The README stays true: its tables match the code and its Python snippets run."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dagster_aha import AhaComponent, AhaResource
from dagster_aha.destinations import TEMPLATES
from dagster_aha.sources import DEFAULT_STREAMS, STREAMS
from dagster_aha.testing import AhaSandbox

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_two_commands_come_first() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, flags=re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]
    # the Performance section carries measured figures and the command that reproduces them
    performance = README.split("## Performance", 1)[1].split("\n## ", 1)[0]
    assert "| efficiency" in performance and "python -m benchmarks.extract" in performance


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_stream_is_in_the_table(name: str) -> None:
    stream = STREAMS[name]
    row = re.search(rf"^\| `{name}` \|(.*)$", README, flags=re.M)
    assert row is not None, f"stream {name} missing from the README table"
    incremental = "yes" if stream.supports_updated_since else "no"
    assert f"| {incremental}" in row.group(1)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_is_in_the_table_with_its_path_params(name: str) -> None:
    template = TEMPLATES[name]
    row = re.search(rf"^\| `{name}` \| `(\w+) ([^`]*)` \| ([^|]*) \|", README, flags=re.M)
    assert row is not None, f"template {name} missing from the README table"
    assert (row.group(1), row.group(2)) == (template.method, template.path)
    params = re.findall(r"`(\w+)`", row.group(3))
    assert tuple(params) == template.path_params


def test_table_has_exactly_the_templates() -> None:
    section = README.split("## Destination templates", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"^\| `(\w+)` \| `(?:POST|PUT|DELETE) ", section, flags=re.M)
    assert sorted(names) == sorted(TEMPLATES)
    assert len(names) == 11


@pytest.mark.parametrize("field", sorted(AhaResource.model_fields))
def test_every_resource_field_is_documented_with_its_default(field: str) -> None:
    section = README.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    row = re.search(rf"^\| `{field}` \| ([^|]*) \|", section, flags=re.M)
    assert row is not None, f"AhaResource.{field} missing from the configuration reference"
    info = AhaResource.model_fields[field]
    documented = row.group(1).strip()
    if info.is_required():
        assert documented == "required"
    else:
        assert documented == f"`{info.default!r}`", (documented, info.default)


def test_quickstart_builds_definitions_without_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AHA_SUBDOMAIN", raising=False)
    monkeypatch.delenv("AHA_API_KEY", raising=False)
    quickstart = next(b for b in _python_blocks() if "AhaResource(" in b)
    assert len(quickstart.strip().splitlines()) <= 6
    scope: dict[str, object] = {}
    exec(compile(quickstart, "README quickstart", "exec"), scope)
    defs = scope["defs"]
    assert isinstance(defs, dg.Definitions)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {f"aha/{name}" for name in DEFAULT_STREAMS}


def test_component_yaml_example_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AHA_API_KEY", raising=False)
    block = next(
        b for b in re.findall(r"```yaml\n(.*?)```", README, flags=re.S) if "AhaComponent" in b
    )
    document = yaml.safe_load(block)
    assert document["type"] == "dagster_aha.AhaComponent"
    component = AhaComponent.resolve_from_yaml(yaml.safe_dump(document["attributes"]))
    defs = component.build_defs(dg.ComponentTree.for_test().load_context)
    keys = {k.to_user_string() for a in defs.assets or [] for k in a.keys}  # type: ignore[union-attr]
    assert keys == {
        "aha/products",
        "aha/releases",
        "aha/features",
        "aha/epics",
        "aha/roadmap_report",
        "aha/intake_features",
        "aha/intake_features_dead_letter",
    }
    assert {s.name for s in defs.sensors or []} == {"intake_features_sensor"}
    groups = {a.group_names_by_key[k] for a in defs.assets or [] for k in a.keys}  # type: ignore[union-attr]
    assert groups == {"aha_raw", "aha_writes"}


def test_sandbox_snippet_passes() -> None:
    snippet = next(b for b in _python_blocks() if "def test_features_are_read" in b)
    scope: dict[str, object] = {}
    exec(compile(snippet, "README sandbox snippet", "exec"), scope)
    test_fn = scope["test_features_are_read"]
    with AhaSandbox(
        products=2, releases_per_product=2, features_per_release=5, enforce_rate_limits=False
    ) as sandbox:
        test_fn(sandbox)  # type: ignore[operator]


def test_default_streams_sentence_matches_the_code() -> None:
    sentence = re.search(r"The default streams\s+are (.*?)\n?\(", README, flags=re.S)
    assert sentence is not None
    names = re.findall(r"\w+", sentence.group(1).replace(" and ", " "))
    assert tuple(names) == DEFAULT_STREAMS


def test_component_section_shows_the_refresh_and_verify_commands() -> None:
    section = README.split("## Component quickstart (YAML)", 1)[1].split("\n## ", 1)[0]
    commands = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert commands is not None
    lines = [line.split("#")[0].strip() for line in commands.group(1).splitlines()]
    assert "dg utils refresh-defs-state" in lines
    assert "dg launch --job aha_verify" in lines
    subclass = next(b for b in _python_blocks() if "class MyAhaComponent(AhaComponent)" in b)
    scope: dict[str, object] = {}
    exec(compile(subclass, "README component subclass", "exec"), scope)
    assert issubclass(scope["MyAhaComponent"], AhaComponent)  # type: ignore[arg-type]
