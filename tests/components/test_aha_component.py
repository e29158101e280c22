"""AhaComponent: YAML -> definitions (dagster.components.testing), scaffolding, dg discovery."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster.components.testing import create_defs_folder_sandbox

from dagster_aha import AhaComponent, AhaResource
from dagster_aha.destinations import TEMPLATE_NAMES
from dagster_aha.destinations.templates import TemplateName
from dagster_aha.testing import AhaSandbox

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _component_yaml(attributes: dict[str, Any]) -> dict[str, Any]:
    return {"type": "dagster_aha.AhaComponent", "attributes": attributes}


def _keys(defs: dg.Definitions) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}


def test_yaml_builds_streams_reports_destinations_and_a_deferred_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AHA_API_KEY", raising=False)
    monkeypatch.setenv("AHA_SUBDOMAIN", "acme")
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=AhaComponent,
            defs_yaml_contents=_component_yaml(
                {
                    "subdomain": "{{ env.AHA_SUBDOMAIN }}",
                    "api_key": "{{ env.AHA_API_KEY }}",
                    "streams": ["products", "features"],
                    "pivot_reports": [
                        {"report_id": "123", "name": "roadmap", "view": "pivot"},
                    ],
                    "destinations": [
                        {
                            "name": "push",
                            "upstream": "intake/requests",
                            "template": "create_feature",
                            "path_params": {"release_id": "PRJ1-R-1"},
                            "match_on": "name",
                            "sensor": True,
                        }
                    ],
                }
            ),
        )
        # The destination's upstream asset, defined next to the component.
        (sandbox.defs_folder_path / "upstream.py").write_text(
            "import dagster as dg\n\n\n@dg.asset(key=['intake', 'requests'])\n"
            "def requests() -> list:\n    return []\n"
        )
        with sandbox.build_component_tree() as tree:
            component = tree.load_component(path)
            assert isinstance(component, AhaComponent)
            defs = tree.build_defs()
            assert _keys(defs) - {"intake/requests"} == {
                "aha/products",
                "aha/features",
                "aha/roadmap",
                "aha/push",
                "aha/push_dead_letter",
            }
            graph = defs.resolve_asset_graph()
            push = graph.get(dg.AssetKey(["aha", "push"]))
            assert dg.AssetKey(["intake", "requests"]) in push.parent_keys
            assert push.group_name == "aha_writes"
            assert graph.get(dg.AssetKey(["aha", "features"])).group_name == "aha"
            assert defs.resolve_job_def("push_job") is not None
            assert defs.resolve_sensor_def("push_sensor").job_name == "push_job"
            resource = (defs.resources or {})["aha"]
            assert isinstance(resource, AhaResource)
            # The API key is NOT read at load time (it is unset here): it stays a reference.
            assert isinstance(resource.api_key, dg.EnvVar)
            assert resource.api_key.env_var_name == "AHA_API_KEY"
            assert isinstance(resource.subdomain, dg.EnvVar)
            assert resource.subdomain.env_var_name == "AHA_SUBDOMAIN"


def test_without_credentials_no_resource_is_bound() -> None:
    """The project binds ``aha`` elsewhere (as the example project does)."""
    component = AhaComponent.resolve_from_yaml("streams: [epics]\nkey_prefix: [raw]\n")
    defs = component.build_defs(dg.ComponentTree.for_test().load_context)
    assert "aha" not in (defs.resources or {})
    keys = {k.to_user_string() for a in defs.assets or [] for k in a.keys}  # type: ignore[union-attr]
    assert keys == {"raw/epics"}


def test_literal_values_are_resolved_and_api_key_is_required_with_a_subdomain() -> None:
    component = AhaComponent(subdomain="acme", streams=["users"])
    with pytest.raises(ValueError, match="api_key is required"):
        component.build_resource()
    resource = AhaComponent(
        subdomain="acme", api_key=dg.EnvVar("AHA_API_KEY"), requests_per_minute=60
    ).build_resource()
    assert resource is not None
    assert resource.subdomain == "acme"
    assert resource.requests_per_minute == 60


def test_translation_renames_keys_and_groups() -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=AhaComponent,
            defs_yaml_contents=_component_yaml(
                {
                    "subdomain": "acme",
                    "api_key": "{{ env.AHA_API_KEY }}",
                    "streams": ["products", "releases"],
                    "pivot_reports": [{"report_id": "9", "name": "status_report"}],
                    "translation": {
                        "key": "warehouse/aha_{{ name }}",
                        "group_name": "aha_{{ kind }}",
                        "tags": {"team": "product-ops"},
                    },
                }
            ),
        )
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            assert _keys(defs) == {
                "warehouse/aha_products",
                "warehouse/aha_releases",
                "warehouse/aha_status_report",
            }
            graph = defs.resolve_asset_graph()
            products = graph.get(dg.AssetKey(["warehouse", "aha_products"]))
            assert products.group_name == "aha_records"
            assert products.tags.get("team") == "product-ops"
            # The default translator's metadata survives the translation.
            assert products.metadata["aha/stream"] == "products"
            report = graph.get(dg.AssetKey(["warehouse", "aha_status_report"]))
            assert report.group_name == "aha_pivot_report"


def test_invalid_destination_fails_at_load_with_the_reason() -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=AhaComponent,
            defs_yaml_contents=_component_yaml(
                {
                    "streams": [],
                    "destinations": [{"name": "x", "upstream": "up", "template": "create_feature"}],
                }
            ),
        )
        with pytest.raises(Exception) as info, sandbox.load_component_and_build_defs(path):
            pass
        chain = []
        exc: BaseException | None = info.value
        while exc is not None:
            chain.append(str(exc))
            exc = exc.__cause__ or exc.__context__
        assert any("path parameter(s) release_id required" in m for m in chain), chain


def test_template_name_type_matches_the_template_list() -> None:
    assert typing.get_args(TemplateName) == TEMPLATE_NAMES


def test_component_assets_read_and_write_against_the_sandbox(
    aha_sandbox: AhaSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """YAML-built assets materialize for real: reads land values, the destination upserts.

    The credentials are env references: unset while the definitions are built, read at run time.
    """
    monkeypatch.delenv("SANDBOX_URL", raising=False)
    monkeypatch.delenv("SANDBOX_KEY", raising=False)
    component = AhaComponent.resolve_from_yaml(
        textwrap.dedent(
            """
            base_url: "{{ env.SANDBOX_URL }}"
            api_key: "{{ env.SANDBOX_KEY }}"
            streams: [releases, features]
            destinations:
              - name: push
                upstream: intake
                template: create_feature
                path_params: {release_id: PRJ1-R-1}
                custom_fields: {ext: external_id}
                match_on: custom_fields.external_id
            """
        )
    )
    defs = component.build_defs(dg.ComponentTree.for_test().load_context)
    monkeypatch.setenv("SANDBOX_URL", aha_sandbox.url)
    monkeypatch.setenv("SANDBOX_KEY", aha_sandbox.api_key)

    @dg.asset(key="intake")
    def intake() -> list[dict[str, Any]]:
        return [{"name": "From YAML", "ext": "Y-1"}]

    assets = [*(defs.assets or []), intake]
    resources = dict(defs.resources or {})
    with dg.instance_for_test() as instance:
        first = dg.materialize(assets, resources=resources, instance=instance)
        assert first.success
        features = first.output_for_node("aha_records", "features")
        assert len(features) == 2 * 2 * 5
        paths = [r.path for r in aha_sandbox.requests if r.method == "GET"]
        assert "features" in paths or any(p.endswith("/features") for p in paths)
        posts = [r for r in aha_sandbox.requests if r.method == "POST"]
        assert [p.path for p in posts] == ["releases/PRJ1-R-1/features"]
        assert posts[0].json["feature"]["custom_fields"] == {"external_id": "Y-1"}
        before = len(aha_sandbox.state.records("features"))

        second = dg.materialize(
            [a for a in assets if a is not intake] + [intake],
            resources=resources,
            instance=instance,
            selection=[
                dg.AssetKey("intake"),
                dg.AssetKey(["aha", "push"]),
                dg.AssetKey(["aha", "push_dead_letter"]),
            ],
        )
        assert second.success
        assert len(aha_sandbox.state.records("features")) == before
        assert len([r for r in aha_sandbox.requests if r.method == "POST"]) == 1


def test_scaffolder_writes_env_references_not_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AHA_SUBDOMAIN", raising=False)
    monkeypatch.delenv("AHA_API_KEY", raising=False)
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(component_cls=AhaComponent, defs_path="aha_ingest")
        written = yaml.safe_load((path / "defs.yaml").read_text())
        assert written["type"] == "dagster_aha.components.aha_component.AhaComponent" or written[
            "type"
        ].endswith("AhaComponent")
        attrs = written["attributes"]
        assert attrs["subdomain"] == "{{ env.AHA_SUBDOMAIN }}"
        assert attrs["api_key"] == "{{ env.AHA_API_KEY }}"
        assert attrs["streams"] == ["products", "releases", "features", "epics"]
        # The scaffolded file loads as is, before the variables are even set.
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            assert _keys(defs) == {"aha/products", "aha/releases", "aha/features", "aha/epics"}

        custom = sandbox.scaffold_component(
            component_cls=AhaComponent,
            defs_path="acme",
            scaffold_params={"subdomain": "acme", "api_key_env_var": "ACME_AHA_KEY"},
        )
        attrs = yaml.safe_load((custom / "defs.yaml").read_text())["attributes"]
        assert attrs["subdomain"] == "acme"
        assert attrs["api_key"] == "{{ env.ACME_AHA_KEY }}"

        remote = sandbox.scaffold_component(
            component_cls=AhaComponent,
            defs_path="remote",
            scaffold_params={"base_url": "https://acme.aha.io/api/v1"},
        )
        attrs = yaml.safe_load((remote / "defs.yaml").read_text())["attributes"]
        assert attrs["base_url"] == "https://acme.aha.io"
        assert attrs["api_key"] == "{{ env.AHA_API_KEY }}"  # off loopback: never a plain key


def _dg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [str(VENV_BIN / "dg"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_dg_lists_and_scaffolds_the_component(tmp_path: Path) -> None:
    listed = _dg("list", "components", "--json", cwd=REPO)
    assert listed.returncode == 0, listed.stderr
    assert "dagster_aha.AhaComponent" in listed.stdout

    project = tmp_path / "my_project"
    (project / "my_project" / "defs").mkdir(parents=True)
    (project / "my_project" / "__init__.py").write_text("")
    (project / "my_project" / "definitions.py").write_text(
        "from pathlib import Path\n\nimport dagster as dg\n\n\n@dg.definitions\n"
        "def defs() -> dg.Definitions:\n"
        "    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)\n"
    )
    (project / "my_project" / "defs" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "my-project"
            version = "0.0.1"

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "my_project"
            registry_modules = ["dagster_aha"]
            """
        )
    )
    scaffolded = _dg("scaffold", "defs", "dagster_aha.AhaComponent", "aha_ingest", cwd=project)
    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
    defs_yaml = project / "my_project" / "defs" / "aha_ingest" / "defs.yaml"
    written = yaml.safe_load(defs_yaml.read_text())
    assert written["type"] == "dagster_aha.AhaComponent"
    assert written["attributes"]["api_key"] == "{{ env.AHA_API_KEY }}"
    # The scaffolded project validates as is, without the credentials being set.
    env_without_credentials = {
        k: v for k, v in os.environ.items() if k not in ("AHA_SUBDOMAIN", "AHA_API_KEY")
    }
    checked = subprocess.run(
        [str(VENV_BIN / "dg"), "check", "defs"],
        cwd=project,
        env={**env_without_credentials, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # aimed at a local sandbox (its printed /api/v1/ URL pasted as is)
    local = _dg(
        "scaffold",
        "defs",
        "dagster_aha.AhaComponent",
        "aha_local",
        "--base-url",
        "http://127.0.0.1:8765/api/v1/",
        cwd=project,
    )
    assert local.returncode == 0, local.stdout + local.stderr
    local_yaml = project / "my_project" / "defs" / "aha_local" / "defs.yaml"
    local_attrs = yaml.safe_load(local_yaml.read_text())["attributes"]
    assert local_attrs["base_url"] == "http://127.0.0.1:8765" and "subdomain" not in local_attrs
    assert local_attrs["api_key"] == "sandbox-key"
