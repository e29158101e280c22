from __future__ import annotations

import logging

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from dagster_aha import AhaClient, AhaResource, __version__
from dagster_aha.client import reset_shared_limiters

SECRET = "sk-resource-SECRET-9876543210"


@pytest.fixture(autouse=True)
def _fresh() -> None:
    reset_shared_limiters()


def test_fields_and_defaults() -> None:
    r = AhaResource(subdomain="acme", api_key=dg.EnvVar("AHA_API_KEY"))
    assert (
        r.timeout,
        r.max_retries,
        r.per_page,
        r.requests_per_second,
        r.requests_per_minute,
        r.max_concurrency,
        r.disable_mailers,
    ) == (30.0, 5, 200, 20, 300, 4, True)
    desc = AhaResource.model_fields["api_key"].description or ""
    assert 'EnvVar("AHA_API_KEY")' in desc


def test_get_client_cached_and_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AHA_API_KEY", SECRET)
    configured = AhaResource(
        subdomain="acme",
        api_key=dg.EnvVar("AHA_API_KEY"),
        user_agent="me (me@x.io)",
        per_page=50,
        max_concurrency=2,
        disable_mailers=False,
        timeout=7,
    )
    with dg.build_resources({"aha": configured}) as res:
        r = res.aha
        c = r.get_client()
        assert isinstance(c, AhaClient) and c is r.get_client()
    assert (c.base_url, c.per_page, c.max_concurrency, c.disable_mailers, c.timeout) == (
        "https://acme.aha.io",
        50,
        2,
        False,
        7.0,
    )
    assert c.user_agent == f"me (me@x.io) dagster-aha/{__version__}"


def test_key_never_in_repr_or_str() -> None:
    r = AhaResource(base_url="http://127.0.0.1:9", api_key=SECRET)
    assert SECRET not in repr(r) and SECRET not in str(r)
    assert SECRET not in repr(r.get_client()) and SECRET not in str(r.get_client())
    r2 = AhaResource(subdomain="acme", api_key=dg.EnvVar("AHA_API_KEY"))
    assert "api_key" not in repr(r2)


def test_invalid_settings_raise_before_requests() -> None:
    key = dg.EnvVar("AHA_API_KEY")
    with pytest.raises(ValueError):
        AhaResource(subdomain="evil.com/", api_key=key).get_client()
    with pytest.raises(ValueError):
        AhaResource(base_url="http://example.com", api_key=key).get_client()
    with pytest.raises(ValueError):
        AhaResource(subdomain="a", base_url="https://a.aha.io", api_key=key).get_client()


def test_verify_calls_me(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/api/v1/me", headers={"Authorization": f"Bearer {SECRET}"}
    ).respond_with_json({"user": {"id": "16338845", "email": "a@b.c"}})
    r = AhaResource(base_url=httpserver.url_for("/").rstrip("/"), api_key=SECRET)
    assert r.verify() == {"id": "16338845", "email": "a@b.c"}


def test_env_var_in_asset_materialization(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AHA_API_KEY", SECRET)
    httpserver.expect_request(
        "/api/v1/me", headers={"Authorization": f"Bearer {SECRET}"}
    ).respond_with_json({"user": {"id": "1", "name": "Ann"}})
    seen: dict[str, str] = {}

    @dg.asset
    def whoami(aha: AhaResource) -> str:
        seen["repr"] = repr(aha)
        seen["client"] = repr(aha.get_client())
        return aha.verify()["name"]

    resource = AhaResource(
        base_url=httpserver.url_for("/").rstrip("/"), api_key=dg.EnvVar("AHA_API_KEY")
    )
    with caplog.at_level(logging.DEBUG):
        result = dg.materialize([whoami], resources={"aha": resource})
    assert result.success
    assert result.output_for_node("whoami") == "Ann"
    assert SECRET not in seen["repr"] and SECRET not in seen["client"]
    assert SECRET not in caplog.text
    assert SECRET not in repr(resource)


def test_env_var_with_build_init_resource_context(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AHA_API_KEY", SECRET)
    httpserver.expect_request("/api/v1/me").respond_with_json({"user": {"id": "7"}})
    resource = AhaResource(
        base_url=httpserver.url_for("/").rstrip("/"), api_key=dg.EnvVar("AHA_API_KEY")
    )
    with dg.build_resources({"aha": resource}) as res:
        assert res.aha.verify() == {"id": "7"}
        assert SECRET not in repr(res.aha)
    ((req, _),) = httpserver.log
    assert req.headers["Authorization"] == f"Bearer {SECRET}"
