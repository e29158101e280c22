"""Hostile and bad input: a clear error and nothing sent, or a request that still targets the
intended endpoint; hostile server responses give a typed error naming what was expected."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
import requests
from pytest_httpserver import HTTPServer

from dagster_aha.client import AhaClient, AhaResponseError
from dagster_aha.destinations import AhaDestination, FromField, write_records
from dagster_aha.resource import AhaResource
from dagster_aha.testing import AhaSandbox

from .conftest import FAST_CLIENT, FAST_SANDBOX, FIGURES

SANDBOX_DATA: dict[str, Any] = {"products": 1, "releases_per_product": 1, "features_per_release": 2}
KEY = "hostile-test-key"


class WireSpy:
    """Every request that reached the transport (requests.Session.send), as sent."""

    def __init__(self) -> None:
        self.sent: list[requests.PreparedRequest] = []

    @property
    def paths(self) -> list[str]:
        return [p.path_url.split("?")[0] for p in self.sent]


def _body(request: requests.PreparedRequest) -> bytes:
    body = request.body
    assert isinstance(body, bytes | str), type(body)
    return body.encode() if isinstance(body, str) else body


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[WireSpy]:
    spy = WireSpy()
    real_send = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kw: Any) -> Any:
        spy.sent.append(request)
        return real_send(self, request, **kw)

    monkeypatch.setattr(requests.Session, "send", send)
    yield spy


@pytest.fixture
def aha() -> Iterator[AhaSandbox]:
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, api_key=KEY) as sandbox:
        yield sandbox


# ---- account: subdomain and base_url ---------------------------------------------------------

HOSTILE_SUBDOMAINS = [
    "evil.com/",
    "a.b",
    "x@evil.com",
    "acme#",
    "\u0430cme",  # Cyrillic small a
    "ac\u043ce",  # Cyrillic small em
    "acme\u200b",  # zero-width space
    "",
    " ",
    "ACME",
    "Acme",
    "acme.aha.io",
    "acme:443",
    "acme/../evil",
    "acme\n",
    "acme?x=1",
    "-acme",
    "evil.com\\",
    "%61cme",
]


@pytest.mark.parametrize("subdomain", HOSTILE_SUBDOMAINS)
def test_hostile_subdomain_is_refused_and_nothing_is_sent(subdomain: str, wire: WireSpy) -> None:
    FIGURES.add("hostile_inputs")
    with pytest.raises(ValueError, match="subdomain"):
        AhaClient(subdomain, KEY)
    with pytest.raises(ValueError, match="subdomain"):
        AhaResource(subdomain=subdomain, api_key=KEY).verify()  # refused when built
    assert wire.sent == []


HOSTILE_BASE_URLS = [
    "http://example.com",  # plain http off loopback
    "http://acme.aha.io",
    "http://10.0.0.1:8080",
    "http://127.0.0.1.evil.com",
    "http://localhost.evil.com",
    "https://user:pw@acme.aha.io",  # userinfo
    "https://acme.aha.io@evil.com",
    "https://:pw@acme.aha.io",
    "ftp://acme.aha.io",  # other schemes
    "file:///etc/passwd",
    "javascript:alert(1)",
    "gopher://acme.aha.io",
    "//evil.com",
    "acme.aha.io",
    "https://acme.aha.io/api/v2",  # a path / query / fragment (a trailing /api/v1 is fine)
    "https://acme.aha.io/api/v1/features",
    "https://acme.aha.io/evil",
    "https://acme.aha.io?redirect=evil.com",
    "https://acme.aha.io#x",
    "https://acme.aha.io\\@evil.com",
    "https://acme.aha.io\r\nX-Evil: 1",
    "",
]


@pytest.mark.parametrize("base_url", HOSTILE_BASE_URLS)
def test_hostile_base_url_is_refused_and_nothing_is_sent(base_url: str, wire: WireSpy) -> None:
    FIGURES.add("hostile_inputs")
    with pytest.raises(ValueError, match="base_url"):
        AhaClient(api_key=KEY, base_url=base_url)
    with pytest.raises(ValueError, match="base_url"):
        AhaResource(base_url=base_url, api_key=KEY).verify()
    assert wire.sent == []


@pytest.mark.parametrize(
    "template",
    ["http://user:pw@{host}", "{url}/api/v1/me", "{url}/x?y=1", "{url}#frag", "ftp://{host}"],
)
def test_hostile_base_url_pointing_at_the_sandbox_never_reaches_it(
    template: str, aha: AhaSandbox, wire: WireSpy
) -> None:
    FIGURES.add("hostile_inputs")
    url = template.format(host=f"127.0.0.1:{aha.port}", url=aha.url)
    with pytest.raises(ValueError, match="base_url"):
        AhaClient(api_key=KEY, base_url=url)
    assert wire.sent == [] and aha.stats.total == 0


# ---- path parameters taken from records ------------------------------------------------------

ENCODED_IDS = ["a/b", "x?y=1", "x#y", "%2F", "PRJ1-E-1/../../me", "a b", "a;b", "\u0430", "..."]
REFUSED_IDS = ["..", ".", "a\nb", "a\rb", "\tPRJ1-E-1", "", "  ", "a\x00b"]


def update_epic_dest() -> AhaDestination:
    return AhaDestination(
        template="update_epic", path_params={"epic_id": FromField(from_field="ref")}
    )


@pytest.mark.parametrize("value", ENCODED_IDS)
def test_path_param_is_encoded_into_one_segment(value: str, aha: AhaSandbox, wire: WireSpy) -> None:
    FIGURES.add("hostile_inputs")
    before = {e["id"]: dict(e) for e in aha.state.records("epics")}
    with aha.client(**FAST_CLIENT) as client:
        report = write_records(client, update_epic_dest(), [{"ref": value, "name": "pwned"}])
    # exactly one request, to the epic endpoint, the value in one encoded segment
    assert wire.paths == ["/api/v1/epics/" + quote(value, safe="")]
    # (the sandbox decodes PATH_INFO as latin-1, so compare non-ASCII ids on the wire only)
    assert [(r.method, r.status) for r in aha.requests] == [("PUT", 404)]
    if value.isascii():
        assert aha.requests[0].path == f"epics/{value}"
    (outcome,) = report.outcomes
    assert outcome.status == "failed" and outcome.http_status == 404  # no such epic
    # nothing else was touched
    assert {e["id"]: dict(e) for e in aha.state.records("epics")} == before


@pytest.mark.parametrize("value", REFUSED_IDS)
def test_unsafe_path_param_is_refused_per_record(
    value: str, aha: AhaSandbox, wire: WireSpy
) -> None:
    FIGURES.add("hostile_inputs")
    good = aha.state.records("epics")[0]
    records = [{"ref": value, "name": "pwned"}, {"ref": good["id"], "name": "renamed"}]
    with aha.client(**FAST_CLIENT) as client:
        report = write_records(client, update_epic_dest(), records)
    bad, ok = report.outcomes
    assert bad.status == "failed" and "path parameter 'epic_id'" in (bad.error or "")
    assert ok.status == "updated"
    assert wire.paths == [f"/api/v1/epics/{good['id']}"]  # only the good record was sent


@pytest.mark.parametrize("value", [1.5, {"id": 1}, ["PRJ1-E-1"], True, None])
def test_path_param_of_the_wrong_type_is_refused(
    value: Any, aha: AhaSandbox, wire: WireSpy
) -> None:
    FIGURES.add("hostile_inputs")
    with aha.client(**FAST_CLIENT) as client:
        report = write_records(client, update_epic_dest(), [{"ref": value, "name": "x"}])
    assert report.outcomes[0].status == "failed"
    assert "path parameter 'epic_id'" in (report.outcomes[0].error or "")
    assert wire.sent == []


# ---- records -------------------------------------------------------------------------------


def feature_dest() -> AhaDestination:
    return AhaDestination(template="create_feature", path_params={"release_id": "PRJ1-R-1"})


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"child": value}
    return value


class Opaque:
    pass


BAD_RECORDS: list[tuple[str, Any, str]] = [
    ("list", ["name", "x"], "not a mapping"),
    ("string", "name=x", "not a mapping"),
    ("none", None, "not a mapping"),
    ("int", 42, "not a mapping"),
    ("int key", {1: "x", "name": "x"}, "not a string"),
    ("name list", {"name": ["a", "b"]}, "'name' must be a string"),
    ("name dict", {"name": {"en": "x"}}, "'name' must be a string"),
    ("name int", {"name": 7}, "'name' must be a string"),
    ("no name", {"description": "x"}, "'name' is required"),
    ("bytes", {"name": "x", "blob": b"\x00\x01"}, "bytes"),
    ("object", {"name": "x", "obj": Opaque()}, "Opaque"),
    ("nan", {"name": "x", "score": float("nan")}, "finite"),
    ("inf decimal", {"name": "x", "amt": Decimal("Infinity")}, "finite"),
    ("deep", {"name": "x", "nested": _deep(5000)}, "nested too deeply"),
]


@pytest.mark.parametrize(("label", "record", "why"), BAD_RECORDS, ids=[b[0] for b in BAD_RECORDS])
def test_bad_record_fails_alone_with_a_clear_error(
    label: str, record: Any, why: str, aha: AhaSandbox, wire: WireSpy
) -> None:
    FIGURES.add("hostile_inputs")
    good = {"name": f"good after {label}"}
    with aha.client(**FAST_CLIENT) as client:
        report = write_records(client, feature_dest(), [record, good])
    bad, ok = report.outcomes
    assert bad.status == "failed" and why in (bad.error or ""), bad.error
    assert not bad.retryable
    assert ok.status == "created"
    assert len(wire.sent) == 1 and json.loads(_body(wire.sent[0])) == {"feature": good}


def test_datetime_and_decimal_values_are_sent_as_json(aha: AhaSandbox, wire: WireSpy) -> None:
    FIGURES.add("hostile_inputs")
    record = {
        "name": "typed",
        "when": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc),
        "day": dt.date(2024, 5, 6),
        "amount": Decimal("12.50"),
        "count": Decimal("3"),
        "precise": Decimal("0.1000000000000000055511151231257827"),
        "nested": {"at": dt.datetime(2024, 1, 1)},
    }
    with aha.client(**FAST_CLIENT) as client:
        report = write_records(client, feature_dest(), [record])
    assert report.outcomes[0].status == "created"
    sent = json.loads(_body(wire.sent[0]))["feature"]
    assert sent == {
        "name": "typed",
        "when": "2024-05-06T07:08:09+00:00",
        "day": "2024-05-06",
        "amount": 12.5,
        "count": 3,
        "precise": "0.1000000000000000055511151231257827",
        "nested": {"at": "2024-01-01T00:00:00"},
    }


def test_a_1_mb_name_is_refused_before_sending(aha: AhaSandbox, wire: WireSpy) -> None:
    FIGURES.add("hostile_inputs")
    with aha.client(**FAST_CLIENT) as client:
        report = write_records(
            client, feature_dest(), [{"name": "x" * 1_000_000}, {"name": "fine"}]
        )
    assert [o.status for o in report.outcomes] == ["failed", "created"]
    error = report.outcomes[0].error or ""
    assert "max_body_bytes" in error and "'name'" in error and len(error) < 300
    assert [r.method for r in wire.sent] == ["POST"]  # only the normal record went out


def test_a_1_mb_name_in_a_dry_run_is_bounded_in_the_report() -> None:
    """Whatever the cap, a huge record never makes the report's texts huge."""
    FIGURES.add("hostile_inputs")
    report = write_records(None, feature_dest(), [{"name": "x" * 1_000_000}], dry_run=True)
    assert report.outcomes[0].status == "failed"  # a dry run shows it would be refused
    assert len(report.summary()) < 500
    assert len(report.markdown_preview()) < 5_000


# ---- hostile server responses (pytest-httpserver) ------------------------------------------


@pytest.fixture
def server_client(httpserver: HTTPServer) -> Iterator[AhaClient]:
    with AhaClient(
        base_url=httpserver.url_for("/").rstrip("/"),
        api_key=KEY,
        **{**FAST_CLIENT, "max_retries": 1},
    ) as client:
        yield client


def _respond(httpserver: HTTPServer, path: str, body: str | bytes, ctype: str) -> None:
    httpserver.expect_request(path).respond_with_data(body, status=200, content_type=ctype)


@pytest.mark.parametrize(
    ("body", "ctype", "expected"),
    [
        ("<html><body>Welcome</body></html>", "text/html", "expected a JSON object"),
        ("not json at all", "text/plain", "expected a JSON object"),
        ('{"features": [1, 2', "application/json", "expected a JSON object"),
        ("[]", "application/json", "expected a JSON object, got list"),
        ('"a string"', "application/json", "expected a JSON object, got str"),
        ('{"products": []}', "application/json", "expected a list under 'features'"),
        ('{"features": {"id": 1}}', "application/json", "expected a list under 'features'"),
        ('{"features": [1, "two"]}', "application/json", "expected each record to be a JSON"),
    ],
)
def test_wrong_shaped_list_response_is_a_typed_error(
    body: str, ctype: str, expected: str, httpserver: HTTPServer, server_client: AhaClient
) -> None:
    FIGURES.add("hostile_inputs")
    _respond(httpserver, "/api/v1/features", body, ctype)
    with pytest.raises(AhaResponseError, match=expected) as info:
        list(server_client.iter_records("features", record_key="features"))
    assert info.value.status == 200 and "/api/v1/features" in (info.value.url or "")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[]", "expected a JSON object, got list"),
        ('{"users": []}', "expected a 'user' object"),
        ('{"user": "me"}', "expected a 'user' object"),
    ],
)
def test_wrong_shaped_me_is_a_typed_error(
    body: str, expected: str, httpserver: HTTPServer, server_client: AhaClient
) -> None:
    FIGURES.add("hostile_inputs")
    _respond(httpserver, "/api/v1/me", body, "application/json")
    with pytest.raises(AhaResponseError, match=expected):
        server_client.me()


def test_pivot_view_missing_keys_is_a_typed_error_naming_them(
    httpserver: HTTPServer, server_client: AhaClient
) -> None:
    FIGURES.add("hostile_inputs")
    _respond(httpserver, "/api/v1/bookmarks/custom_pivots/7", '{"rows": {}}', "application/json")
    with pytest.raises(AhaResponseError, match="columns") as info:
        server_client.get_pivot_report("7", view="pivot")
    assert "cells" in str(info.value) and "field_definitions" in str(info.value)


def test_pivot_list_without_columns_is_a_typed_error(
    httpserver: HTTPServer, server_client: AhaClient
) -> None:
    FIGURES.add("hostile_inputs")
    _respond(httpserver, "/api/v1/bookmarks/custom_pivots/7", '{"rows": []}', "application/json")
    with pytest.raises(AhaResponseError, match="columns"):
        server_client.get_pivot_report("7", view="list")


@pytest.mark.parametrize("size_mb", [5])
def test_huge_non_json_response_gives_a_bounded_typed_error(
    size_mb: int, httpserver: HTTPServer, server_client: AhaClient
) -> None:
    FIGURES.add("hostile_inputs")
    _respond(httpserver, "/api/v1/features", b"<" * (size_mb * 1_000_000), "text/html")
    with pytest.raises(AhaResponseError, match="expected a JSON object") as info:
        list(server_client.iter_records("features", record_key="features"))
    assert len(str(info.value)) < 1_000 and len(info.value.body_excerpt or "") <= 300


def test_huge_error_body_gives_a_bounded_typed_error(
    httpserver: HTTPServer, server_client: AhaClient
) -> None:
    FIGURES.add("hostile_inputs")
    httpserver.expect_request("/api/v1/features/X").respond_with_data(
        "<html>" + "boom " * 1_000_000 + "</html>", status=500, content_type="text/html"
    )
    with pytest.raises(Exception) as info:
        server_client.request("GET", "features/X")
    assert type(info.value).__name__ == "AhaServerError"
    assert len(str(info.value)) < 1_000


def test_huge_valid_list_page_is_read_whole(
    httpserver: HTTPServer, server_client: AhaClient
) -> None:
    FIGURES.add("hostile_inputs")
    records = [{"id": str(i), "name": "n" * 500} for i in range(10_000)]  # ~5 MB
    body = json.dumps({"features": records, "pagination": {"total_pages": 1}})
    _respond(httpserver, "/api/v1/features", body, "application/json")
    got = list(server_client.iter_records("features", record_key="features"))
    assert len(got) == 10_000 and got[-1]["id"] == "9999"


def test_write_answered_with_a_wrong_shape_is_not_reported_failed(
    httpserver: HTTPServer, server_client: AhaClient
) -> None:
    """A 2xx whose body is not an object: the create was applied; never 'failed' (a replay of
    a 'failed' record would duplicate it)."""
    FIGURES.add("hostile_inputs")
    httpserver.expect_request("/api/v1/releases/R1/features", method="POST").respond_with_data(
        "[]", status=200, content_type="application/json"
    )
    dest = AhaDestination(template="create_feature", path_params={"release_id": "R1"})
    report = write_records(server_client, dest, [{"name": "x"}])
    (o,) = report.outcomes
    assert o.status == "ambiguous" and "expected a JSON object" in (o.error or "")
    assert not o.retryable
    assert len(httpserver.log) == 1
