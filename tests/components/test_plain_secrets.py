"""A plain-text API key never reaches the Dagster UI or run storage.

A plain string given to a resource is shown on the resource page and kept with every run; in
YAML, only ``"{{ env.X }}"`` / ``"{{ env('X') }}"`` are deferred, other templates
(``| trim``, ``or ''``) are evaluated at load time into a plain string. Both are refused for any
account that is not a local sandbox on loopback, with an error showing the ``EnvVar`` form.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
from dagster.components.testing import create_defs_folder_sandbox

from dagster_aha import AhaComponent, AhaResource
from dagster_aha.resource import PlainSecretError

KEY = "sk-PLAINCANARY-0123456789"
README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "account",
    [
        {"subdomain": "acme"},
        {"base_url": "https://acme.aha.io"},
        {"base_url": "https://127.0.0.1.nip.io"},
        {"base_url": dg.EnvVar("AHA_BASE_URL")},
        {"subdomain": dg.EnvVar("AHA_SUBDOMAIN")},
    ],
    ids=["subdomain", "https", "lookalike-loopback", "env-base-url", "env-subdomain"],
)
def test_plain_key_is_refused_for_an_account_off_loopback(account: dict[str, Any]) -> None:
    with pytest.raises(PlainSecretError) as info:
        AhaResource(api_key=KEY, **account)
    message = str(info.value)
    assert 'dg.EnvVar("AHA_API_KEY")' in message and KEY not in message
    with pytest.raises(PlainSecretError, match=re.escape('api_key: "{{ env.AHA_API_KEY }}"')):
        AhaComponent(api_key=KEY, **account).build_resource()


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8765", "http://localhost:1", "http://[::1]:2"]
)
def test_plain_key_is_fine_for_a_local_sandbox(base_url: str) -> None:
    assert AhaResource(base_url=base_url, api_key="sandbox-key").base_url == base_url
    assert AhaComponent(base_url=base_url, api_key="sandbox-key").build_resource() is not None


def test_env_var_key_runs_and_the_snapshot_names_only_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AHA_PLAIN_TEST_KEY", KEY)
    resource = AhaResource(subdomain="acme", api_key=dg.EnvVar("AHA_PLAIN_TEST_KEY"))

    @dg.asset
    def uses(aha: AhaResource) -> str:
        return aha.get_client().base_url

    result = dg.materialize([uses], resources={"aha": resource})  # re-created at run time
    assert result.output_for_node("uses") == "https://acme.aha.io"
    defs = dg.Definitions(assets=[uses], resources={"aha": resource})
    snap = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert "AHA_PLAIN_TEST_KEY" in snap and KEY not in snap


def _chain(exc: BaseException | None) -> str:
    """The messages of ``exc`` and its causes (Dagster wraps component errors)."""
    out: list[str] = []
    while exc is not None and len(out) < 20:
        out.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    return "\n".join(out)


def _load(api_key: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AHA_API_KEY", KEY + "  ")
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            component_cls=AhaComponent,
            defs_yaml_contents={
                "type": "dagster_aha.AhaComponent",
                "attributes": {"subdomain": "acme", "api_key": api_key, "streams": ["users"]},
            },
        )
        with sandbox.build_component_tree() as tree:
            component = tree.load_component(path)
            return component, tree.build_defs()


@pytest.mark.parametrize(
    "template",
    [
        "{{ env.AHA_API_KEY | trim }}",
        "{{ env.AHA_API_KEY or '' }}",
        "{{ env['AHA_API_KEY'] }}",
        "{{ env.AHA_API_KEY }}{{ '' }}",
        "Bearer {{ env.AHA_API_KEY }}",
    ],
)
def test_templates_evaluated_at_load_time_are_refused(
    template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(Exception) as info:
        _load(template, monkeypatch)
    text = _chain(info.value)
    assert "evaluated while definitions load" in text
    assert KEY not in text and "{{ env.AHA_API_KEY }}" in text


@pytest.mark.parametrize("template", ["{{ env.AHA_API_KEY }}", "{{env('AHA_API_KEY')}}"])
def test_deferred_templates_stay_env_vars(template: str, monkeypatch: pytest.MonkeyPatch) -> None:
    component, defs = _load(template, monkeypatch)
    assert isinstance(component.api_key, dg.EnvVar)
    snap = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert KEY not in snap


def test_a_literal_key_in_yaml_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Exception) as info:
        _load(KEY, monkeypatch)
    text = _chain(info.value)
    assert "plain string" in text and 'api_key: "{{ env.AHA_API_KEY }}"' in text


def test_readme_says_what_is_and_is_not_shown() -> None:
    section = README[README.index("## Secrets") :]
    section = section[: section.index("\n## ", 5)]
    for phrase in (
        "plain string",
        "refused",
        "loopback",
        "{{ env.AHA_API_KEY | trim }}",
        "shown",
        "not shown",
    ):
        assert phrase in section, phrase


@pytest.mark.parametrize("cls", [AhaResource, AhaComponent])
def test_descriptions_shown_in_the_ui_are_not_restructured_text(cls: type) -> None:
    doc = cls.__doc__ or ""
    for rst in ("::", "``", ":class:", ":func:", ".. "):
        assert rst not in doc, (cls.__name__, rst)
    for name, field in getattr(cls, "model_fields", {}).items():
        for rst in ("``", ":class:", ":func:"):
            assert rst not in (field.description or ""), (name, rst)
