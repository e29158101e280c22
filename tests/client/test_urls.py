from __future__ import annotations

import re

import pytest
from pytest_httpserver import HTTPServer

from dagster_aha import AhaClient
from dagster_aha.client import check_api_path, quote_segment, resolve_base_url

KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.mark.parametrize("sub", ["acme", "a", "acme-corp", "0abc", "a" * 63])
def test_valid_subdomains(sub: str) -> None:
    c = AhaClient(sub, KEY)
    assert c.base_url == f"https://{sub}.aha.io"
    assert c.account_url == c.base_url


@pytest.mark.parametrize(
    "sub",
    [
        "",
        "Acme",
        "-acme",
        "acme.evil.com",
        "acme/x",
        "acme@evil",
        "a" * 64,
        "acme ",
        "evil.com#",
        "acme_corp",
        "acme.aha.io",
    ],
)
def test_invalid_subdomains(sub: str) -> None:
    with pytest.raises(ValueError, match="subdomain"):
        AhaClient(sub, KEY)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme.aha.io", "https://acme.aha.io"),
        ("https://acme.aha.io/", "https://acme.aha.io"),
        ("HTTPS://Acme.Aha.io", "https://acme.aha.io"),
        ("https://aha.example.com:8443", "https://aha.example.com:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.1.2.3:80/", "http://127.1.2.3:80"),
        ("http://localhost:9000", "http://localhost:9000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_valid_base_urls(url: str, expected: str) -> None:
    assert resolve_base_url(None, url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://acme.aha.io",  # plain http off loopback
        "http://10.0.0.1",
        "http://localhost.evil.com",
        "http://127.0.0.1.nip.io",
        "ftp://acme.aha.io",
        "acme.aha.io",
        "https://user:pw@acme.aha.io",
        "https://user@acme.aha.io",
        "https://acme.aha.io/api/v2",
        "https://acme.aha.io/api/v1/features",
        "https://acme.aha.io?x=1",
        "https://acme.aha.io#frag",
        "https://acme.aha.io/?",
        "https://",
        "https://acme.aha.io\\@evil.com",
        "https://acme.aha.io\n",
        "javascript:alert(1)",
    ],
)
def test_invalid_base_urls_rejected_before_any_request(url: str) -> None:
    with pytest.raises(ValueError):
        AhaClient(api_key=KEY, base_url=url)


def test_exactly_one_of_subdomain_or_base_url() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        AhaClient(api_key=KEY)
    with pytest.raises(ValueError, match="exactly one"):
        AhaClient("acme", KEY, base_url="https://acme.aha.io")


def test_api_key_required_and_not_echoed() -> None:
    with pytest.raises(ValueError, match="api_key"):
        AhaClient("acme", "")
    with pytest.raises(ValueError) as ei:
        AhaClient("acme", "SECRET\r\nX-Evil: 1")
    assert "SECRET" not in str(ei.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PRJ1-1", "PRJ1-1"),
        (6434552458299516367, "6434552458299516367"),
        ("a/b", "a%2Fb"),
        ("../admin", "..%2Fadmin"),
        ("x?y=1", "x%3Fy%3D1"),
        ("x#y", "x%23y"),
        ("50%", "50%25"),
        ("a b", "a%20b"),
        ("a\\b", "a%5Cb"),
        ("ü", "%C3%BC"),
    ],
)
def test_quote_segment(value: object, expected: str) -> None:
    assert quote_segment(value) == expected
    check_api_path(f"features/{quote_segment(value)}")  # always a valid path


@pytest.mark.parametrize("value", ["", ".", "..", None, True])
def test_quote_segment_rejects_dot_segments_and_empties(value: object) -> None:
    with pytest.raises(ValueError):
        quote_segment(value)


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.com/api/v1/features",
        "//evil.com/x",
        "features/../../admin",
        "features/./x",
        "../features",
        "features/%2e%2e/x",
        "features?x=1",
        "features#x",
        "features\\x",
        "features//x",
        "features/a b",
        "features/\nx",
        "",
    ],
)
def test_client_refuses_unsafe_paths_and_sends_nothing(httpserver: HTTPServer, path: str) -> None:
    c = AhaClient(api_key=KEY, base_url=httpserver.url_for("/").rstrip("/"))
    with pytest.raises(ValueError):
        c.request("GET", path)
    with pytest.raises(ValueError):
        list(c.iter_records(path))
    assert httpserver.log == []


def test_paths_relative_to_api_v1(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/products/PRJ1").respond_with_json({"product": {"id": "1"}})
    c = AhaClient(api_key=KEY, base_url=httpserver.url_for("/"))
    assert c.request("GET", "products/PRJ1") == {"product": {"id": "1"}}
    assert c.request("GET", "/products/PRJ1") == {"product": {"id": "1"}}
    assert c.request("GET", "/api/v1/products/PRJ1") == {"product": {"id": "1"}}
    assert c.url_for("x") == httpserver.url_for("/api/v1/x")


def test_encoded_segment_stays_in_one_segment(httpserver: HTTPServer) -> None:
    httpserver.expect_request(re.compile(".*")).respond_with_json({"ok": 1})
    c = AhaClient(api_key=KEY, base_url=httpserver.url_for("/"))
    c.request("GET", f"features/{quote_segment('a/../admin?x#y')}")
    (req, _resp), *_ = httpserver.log
    raw = req.environ.get("REQUEST_URI") or req.environ.get("RAW_URI")
    assert raw == "/api/v1/features/a%2F..%2Fadmin%3Fx%23y"
