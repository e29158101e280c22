"""AhaClient against pytest-httpserver: auth and headers (1), fields= (3), error bodies (8),
mailers (9), stats, redirects and repr."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from dagster_aha import (
    AhaBadRequestError,
    AhaClient,
    AhaResponseError,
    ClientStats,
    __version__,
)

API_KEY = "sk-test-SECRET-0123456789abcdef"  # same as conftest's
FEATURES = "/api/v1/features"


# 1. auth and headers ---
def test_auth_and_default_headers(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/api/v1/me",
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
    ).respond_with_json({"user": {"id": "16338845", "name": "John Smith"}})
    assert make_client().me() == {"id": "16338845", "name": "John Smith"}
    ((req, _),) = httpserver.log
    assert req.headers["User-Agent"] == f"dagster-aha/{__version__}"


def test_custom_user_agent_with_contact(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/me").respond_with_json({"user": {"id": "1"}})
    make_client(user_agent="acme-sync (ops@acme.com)").me()
    ((req, _),) = httpserver.log
    assert req.headers["User-Agent"] == f"acme-sync (ops@acme.com) dagster-aha/{__version__}"


def test_me_wrong_shape(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/me").respond_with_json({"nope": 1})
    with pytest.raises(AhaResponseError, match="user"):
        make_client().me()


def test_request_returns_none_for_204_and_rejects_non_objects(
    make_client: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/api/v1/epics/1", method="DELETE").respond_with_data("", 204)
    httpserver.expect_request("/api/v1/list").respond_with_json([1, 2])
    httpserver.expect_request("/api/v1/html").respond_with_data("<html>hi</html>", 200)
    c = make_client()
    assert c.request("DELETE", "epics/1") is None
    with pytest.raises(AhaResponseError, match="JSON object"):
        c.request("GET", "list")
    with pytest.raises(AhaResponseError, match="non-JSON"):
        c.request("GET", "html")


# 3. fields= ---
@pytest.mark.parametrize(
    ("fields", "sent"),
    [
        (["name", "reference_num", "workflow_status"], "name,reference_num,workflow_status"),
        ("name, reference_num,workflow_status", "name,reference_num,workflow_status"),
        ("*", "*"),
        (("id", "updated_at"), "id,updated_at"),
    ],
)
def test_fields_param(make_client: Any, httpserver: HTTPServer, fields: Any, sent: str) -> None:
    httpserver.expect_request(
        FEATURES, query_string={"fields": sent, "page": "1", "per_page": "200", "q": "x"}
    ).respond_with_json({"features": []})
    assert list(make_client().iter_records("features", fields=fields, params={"q": "x"})) == []


def test_fields_empty_rejected(make_client: Any) -> None:
    with pytest.raises(ValueError):
        list(make_client().iter_records("features", fields=[]))


# 8. errors parsed from bodies ---
@pytest.mark.parametrize(
    ("body", "ctype", "expected"),
    [
        (
            '{"error": "end_at must be after start_at"}',
            "application/json",
            "end_at must be after start_at",
        ),
        ('{"message": "Invalid release"}', "application/json", "Invalid release"),
        ('{"errors": [{"message": "Name is taken"}]}', "application/json", "Name is taken"),
        ('{"errors": {"name": ["can\'t be blank"]}}', "application/json", "name can't be blank"),
        ("<html><body><h1>Unprocessable</h1></body></html>", "text/html", "Unprocessable"),
    ],
)
def test_error_bodies(
    make_client: Any, httpserver: HTTPServer, body: str, ctype: str, expected: str
) -> None:
    httpserver.expect_request("/api/v1/features/1").respond_with_data(
        body, status=422, content_type=ctype
    )
    with pytest.raises(AhaBadRequestError) as ei:
        make_client().request("PUT", "features/1", json={"feature": {}})
    err = ei.value
    assert err.message == expected
    assert err.method == "PUT"
    assert err.url is not None and err.url.startswith(httpserver.url_for("/api/v1/features/1"))
    assert "disable_mailers=true" in err.url
    assert err.body_excerpt is not None and len(err.body_excerpt) <= 300


# 9. disable_mailers ---
def test_disable_mailers_on_writes_only(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_request(re.compile(".*")).respond_with_json({"ok": True})
    c = make_client()
    c.request("GET", "features")
    c.request("POST", "releases/PRJ1-R-1/features", json={"feature": {"name": "n"}})
    c.request("PUT", "features/PRJ1-1", json={"feature": {"name": "n"}}, params={"a": 1})
    c.request("DELETE", "epics/PRJ1-E-1")
    c.request("POST", "teams", json={"team": {}}, disable_mailers=False)
    make_client(disable_mailers=False).request("PUT", "features/PRJ1-1")
    make_client(disable_mailers=False).request("PUT", "features/PRJ1-1", disable_mailers=True)
    got = [(r.method, r.args.get("disable_mailers")) for r, _ in httpserver.log]
    assert got == [
        ("GET", None),
        ("POST", "true"),
        ("PUT", "true"),
        ("DELETE", "true"),
        ("POST", None),
        ("PUT", None),
        ("PUT", "true"),
    ]
    post = httpserver.log[1][0]
    assert post.get_json() == {"feature": {"name": "n"}}
    assert httpserver.log[2][0].args.get("a") == "1"


# stats ---
def test_stats_snapshot(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/api/v1/me").respond_with_data("", 500)
    httpserver.expect_ordered_request("/api/v1/me").respond_with_json({"user": {"id": 1}})
    c = make_client()
    before = c.stats
    c.me()
    after = c.stats
    assert isinstance(after, ClientStats)
    assert before == ClientStats()
    assert (after.requests, after.retries, after.rate_limited, after.by_status) == (
        2,
        1,
        0,
        {500: 1, 200: 1},
    )
    after.by_status[999] = 1  # a snapshot: mutating it does not change the client
    assert 999 not in c.stats.by_status


def test_redirects_not_followed(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/me").respond_with_data(
        "", 302, headers={"Location": "https://evil.example.com/steal"}
    )
    with pytest.raises(Exception) as ei:
        make_client().me()
    assert "302" in str(ei.value)


def test_context_manager_and_repr(httpserver: HTTPServer) -> None:
    with AhaClient(api_key=API_KEY, base_url=httpserver.url_for("/")) as c:
        assert API_KEY not in repr(c) and API_KEY not in str(c)
        assert repr(c) == f"AhaClient(base_url={c.base_url!r})"
        assert API_KEY not in repr(vars(c).get("_session").auth)  # type: ignore[union-attr]


def test_extra_headers_are_sent_but_never_auth_or_host(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/me", headers={"X-Trace": "t-1"}).respond_with_json(
        {"user": {"id": "1"}}
    )
    c = AhaClient(api_key="k-extra", base_url=httpserver.url_for("/"), backoff_base=0.001)
    assert c.request("GET", "me", headers={"X-Trace": "t-1"}) == {"user": {"id": "1"}}
    assert httpserver.log[0][0].headers["Authorization"] == "Bearer k-extra"
    for bad in ({"Authorization": "Bearer x"}, {"host": "evil.com"}, {"X-A": "v\r\nX-B: 1"}):
        with pytest.raises(ValueError):
            c.request("GET", "me", headers=bad)
    assert len(httpserver.log) == 1  # refused ones were never sent
