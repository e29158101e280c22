"""The state-backed AhaComponent: refresh the account snapshot, then load with no API call."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster.components.testing import create_defs_folder_sandbox
from dagster.components.testing.utils import DefsFolderSandbox

from dagster_aha import AhaComponent
from dagster_aha.components.account_state import AhaAccountState
from dagster_aha.testing import AhaSandbox

VENV_BIN = Path(sys.executable).parent
URL_ENV, KEY_ENV = "T18_AHA_URL", "T18_AHA_KEY"


def _attributes(aha: AhaSandbox, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": f"{{{{ env.{URL_ENV} }}}}",
        "api_key": f"{{{{ env.{KEY_ENV} }}}}",
        "streams": ["products", "features"],
        "pivot_reports": [{"report_id": next(iter(aha.state.reports)), "name": "status_report"}],
        **extra,
    }


def _keys(defs: dg.Definitions) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}


def _schema(defs: dg.Definitions, key: str) -> dict[str, dg.TableColumn]:
    node = defs.resolve_asset_graph().get(dg.AssetKey.from_user_string(key))
    schema = node.metadata["dagster/column_schema"]
    return {c.name: c for c in schema.columns}


def _refresh(sandbox: DefsFolderSandbox, path: Path) -> AhaComponent:
    with sandbox.build_component_tree() as tree:
        component = tree.load_component(path)
        assert isinstance(component, AhaComponent)
        asyncio.run(component.refresh_state(sandbox.project_root))
        return component


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[AhaSandbox]:
    with AhaSandbox(
        products=2, releases_per_product=1, features_per_release=3, enforce_rate_limits=False
    ) as aha:
        monkeypatch.setenv(URL_ENV, aha.url)
        monkeypatch.setenv(KEY_ENV, aha.api_key)
        yield aha


def test_refresh_then_load_with_the_sandbox_stopped(account: AhaSandbox) -> None:
    """State in, Aha! off: custom tables, product partitions and typed columns, 0 requests."""
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=AhaComponent,
            defs_path="aha_ingest",
            defs_yaml_contents={
                "type": "dagster_aha.AhaComponent",
                "attributes": _attributes(account, product_partitions="all"),
            },
        )
        _refresh(sandbox, path)
        paths = [r.path for r in account.requests]
        assert paths[:2] == ["products", "custom_field_definitions"]
        assert sum(p.endswith("/custom_objects/customers/records") for p in paths) == 2
        account.stop()
        requests_before_load = len(account.requests)

        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert len(account.requests) == requests_before_load  # nothing called at load
            assert isinstance(component, AhaComponent) and component.state is not None
            assert _keys(defs) == {
                "aha/products",
                "aha/features",
                "aha/status_report",
                "aha/custom_table_prj1_customers",
                "aha/custom_table_prj2_customers",
            }
            features = defs.resolve_assets_def(dg.AssetKey(["aha", "features"]))
            assert features.partitions_def is not None
            assert list(features.partitions_def.get_partition_keys()) == ["PRJ1", "PRJ2"]
            products = defs.resolve_assets_def(dg.AssetKey(["aha", "products"]))
            assert products.partitions_def is None

            columns = _schema(defs, "aha/features")
            assert columns["id"].type == "string" and columns["id"].constraints.unique
            assert columns["updated_at"].type == "datetime"
            assert columns["workflow_status"].type == "object"
            priority = columns["custom_fields__priority"]
            assert priority.type == "string"
            assert priority.description.startswith("Priority")
            assert priority.constraints.other == ["one of: P1, P2, P3"]
            assert columns["custom_fields__external_id"].description.startswith("External id")
            table = _schema(defs, "aha/custom_table_prj1_customers")
            assert table["custom_fields__website"].description.startswith("Website")
            report = _schema(defs, "aha/status_report")
            assert list(report) and all(c.description for c in report.values())
            assert defs.resolve_job_def("aha_verify") is not None


def test_an_account_change_and_a_refresh_add_the_new_custom_table(account: AhaSandbox) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=AhaComponent,
            defs_path="aha_ingest",
            defs_yaml_contents={
                "type": "dagster_aha.AhaComponent",
                "attributes": _attributes(
                    account, streams=["products"], exclude_custom_tables=["PRJ2/customers"]
                ),
            },
        )
        _refresh(sandbox, path)
        account.state.add_custom_table(
            "competitors",
            name="Competitors",
            fields=[("name", "Name", "string"), ("revenue", "Revenue", "number")],
            products=["PRJ2"],
            records=[{"name": "Globex", "revenue": 12}],
        )
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            # The opt-out list drops PRJ2's customers; the new table is not known yet.
            assert {k for k in _keys(defs) if "custom_table" in k} == {
                "aha/custom_table_prj1_customers"
            }
        _refresh(sandbox, path)
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            assert {k for k in _keys(defs) if "custom_table" in k} == {
                "aha/custom_table_prj1_customers",
                "aha/custom_table_prj2_competitors",
            }
            revenue = _schema(defs, "aha/custom_table_prj2_competitors")["custom_fields__revenue"]
            assert revenue.type == "number" and revenue.description.startswith("Revenue")
            result = dg.materialize(
                [defs.resolve_assets_def(dg.AssetKey(["aha", "custom_table_prj2_competitors"]))]
            )
            rows = result.output_for_node(
                "aha_custom_table_prj2_competitors", "custom_table_prj2_competitors"
            )
            assert [cf["value"] for r in rows for cf in r["custom_fields"]] == ["Globex", 12]


def test_without_state_the_yaml_streams_load_and_a_log_line_says_how_to_refresh(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=AhaComponent,
            defs_yaml_contents={
                "type": "dagster_aha.AhaComponent",
                "attributes": {
                    "base_url": f"{{{{ env.{URL_ENV} }}}}",
                    "api_key": f"{{{{ env.{KEY_ENV} }}}}",
                    "streams": ["features"],
                    "product_partitions": "all",
                    "custom_tables": [{"table_key": "customers", "product_id": "PRJ1"}],
                },
            },
        )
        with (
            caplog.at_level(logging.INFO),
            sandbox.load_component_and_build_defs(defs_path=path) as (component, defs),
        ):
            assert isinstance(component, AhaComponent) and component.state is None
            assert _keys(defs) == {"aha/features", "aha/custom_table_prj1_customers"}
            assert defs.resolve_assets_def(dg.AssetKey(["aha", "features"])).partitions_def is None
            # Typed columns of the stream's own fields need no state; custom fields do.
            columns = _schema(defs, "aha/features")
            assert columns["updated_at"].type == "datetime"
            assert not any(name.startswith("custom_fields__") for name in columns)
        assert "dg utils refresh-defs-state" in caplog.text
        assert "no Aha! state yet" in caplog.text


def test_execute_and_get_asset_spec_overrides(aha_sandbox: AhaSandbox) -> None:
    calls: list[str] = []

    class TaggedAhaComponent(AhaComponent):
        def get_asset_spec(self, props: Any) -> dg.AssetSpec:
            spec = super().get_asset_spec(props)
            return spec.replace_attributes(owners=["team:product-ops"])

        def execute(self, context: dg.AssetExecutionContext, aha: Any) -> Iterator[Any]:
            calls.append(context.op_execution_context.op_def.name)
            assert aha.get_client().account_url == aha_sandbox.url
            yield from super().execute(context, aha)

    component = TaggedAhaComponent(
        base_url=aha_sandbox.url, api_key=aha_sandbox.api_key, streams=["releases", "features"]
    )
    defs = component.build_defs(dg.ComponentTree.for_test().load_context)
    node = defs.resolve_asset_graph().get(dg.AssetKey(["aha", "features"]))
    assert node.owners == ["team:product-ops"]
    result = dg.materialize(list(defs.assets or []), resources=dict(defs.resources or {}))  # type: ignore[arg-type]
    assert result.success
    assert calls == ["aha_records"]
    assert len(result.output_for_node("aha_records", "features")) == 2 * 2 * 5
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)


def test_verify_job_reports_user_and_account(aha_sandbox: AhaSandbox) -> None:
    component = AhaComponent(base_url=aha_sandbox.url, api_key=aha_sandbox.api_key, streams=[])
    defs = component.build_defs(dg.ComponentTree.for_test().load_context)
    result = defs.resolve_job_def("aha_verify").execute_in_process()
    assert result.success
    assert [r.path for r in aha_sandbox.requests] == ["me"]
    me = aha_sandbox.state.me()
    output = result.output_for_node("aha_verify_me")
    assert output["user_email"] == me["email"]
    assert output["account_name"] == "Sandbox"
    assert output["account_url"] == aha_sandbox.url

    bad = AhaComponent(base_url=aha_sandbox.url, api_key="wrong-key", streams=[])
    failed = (
        bad.build_defs(dg.ComponentTree.for_test().load_context)
        .resolve_job_def("aha_verify")
        .execute_in_process(raise_on_error=False)
    )
    assert not failed.success
    message = str(failed.failure_data_for_node("aha_verify_me").error)  # type: ignore[union-attr]
    assert "rejected the API key" in message and "wrong-key" not in message


def test_state_file_round_trips_and_a_corrupt_one_is_ignored(tmp_path: Path) -> None:
    state = AhaAccountState(account_url="https://acme.aha.io", fetched_at="2026-01-01T00:00:00")
    assert AhaAccountState.from_json(state.to_json()) == state
    bad = tmp_path / "state"
    bad.write_text("{not json", encoding="utf-8")
    component = AhaComponent(streams=["users"])
    defs = component.build_defs_from_state(dg.ComponentTree.for_test().load_context, bad)
    assert component.state is None
    assert {k.to_user_string() for a in defs.assets or [] for k in a.keys} == {"aha/users"}  # type: ignore[union-attr]


def _dg(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "dg"), *args],
        cwd=cwd,
        env={**os.environ, **env, "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_scaffolder_prints_the_verify_and_refresh_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with create_defs_folder_sandbox() as sandbox:
        sandbox.scaffold_component(component_cls=AhaComponent, defs_path="aha_ingest")
    printed = capsys.readouterr().out
    assert "dg launch --job aha_verify" in printed
    assert "dg utils refresh-defs-state" in printed
    assert "export AHA_SUBDOMAIN=" in printed and "AHA_API_KEY=" in printed


def test_dg_refresh_defs_state_then_dg_list_defs_offline(tmp_path: Path) -> None:
    """The commands a user runs: refresh against the account, then list with it stopped."""
    project = tmp_path / "acme_project"
    (project / "acme_project" / "defs").mkdir(parents=True)
    (project / "acme_project" / "__init__.py").write_text("")
    (project / "acme_project" / "defs" / "__init__.py").write_text("")
    (project / "acme_project" / "definitions.py").write_text(
        "from pathlib import Path\n\nimport dagster as dg\n\n\n@dg.definitions\n"
        "def defs() -> dg.Definitions:\n"
        "    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)\n"
    )
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "acme-project"
            version = "0.0.1"

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "acme_project"
            registry_modules = ["dagster_aha"]
            """
        )
    )
    env = {"PYTHONPATH": os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")])}
    defs_yaml = project / "acme_project" / "defs" / "aha_ingest" / "defs.yaml"
    defs_yaml.parent.mkdir()
    defs_yaml.write_text(
        yaml.safe_dump(
            {
                "type": "dagster_aha.AhaComponent",
                "attributes": {
                    "base_url": "{{ env.AHA_BASE_URL }}",
                    "api_key": "{{ env.AHA_API_KEY }}",
                    "streams": ["products", "features"],
                    "product_partitions": "all",
                },
            }
        )
    )

    with AhaSandbox(products=2, releases_per_product=1, features_per_release=2) as aha:
        account_env = {**env, "AHA_BASE_URL": aha.url, "AHA_API_KEY": aha.api_key}
        refreshed = _dg("utils", "refresh-defs-state", cwd=project, env=account_env)
        assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    # The sandbox is stopped: listing the definitions must not need it.
    listed = _dg("list", "defs", "--json", cwd=project, env=account_env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "aha/custom_table_prj1_customers" in listed.stdout
    assert "aha/custom_table_prj2_customers" in listed.stdout
    assert "aha/features" in listed.stdout
