"""Where the key may go: hosts, proxies and request headers.

* Host names with non-ASCII characters (IDNA look-alikes such as a Cyrillic ``\u043e``) are refused
  unless given in punycode; every invalid name raises our ``ValueError`` before any request
  (never ``requests.exceptions.InvalidURL`` at request time).
* Plain-http loopback traffic (a local sandbox, key in clear text) never goes through a proxy;
  https accounts keep the environment's proxy, read once per client session.
* Header names are normalised (case, surrounding spaces) before the forbidden-name check, for
  ``client.request(headers=...)`` and destinations alike; framing and method-override headers
  are refused.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests
import requests.sessions
from pydantic import ValidationError
from pytest_httpserver import HTTPServer

from dagster_aha.client import AhaClient, AhaConnectionError, AhaError
from dagster_aha.destinations import AhaDestination
from dagster_aha.resource import AhaResource

from .conftest import FIGURES
from .rawserver import raw_server

HOSTILE_HOSTS = [
    "https://acme.aha.i\u043e",  # Cyrillic o
    "https://\u0430cme.aha.io",  # Cyrillic a
    "https://acme.aha.io\u3002evil.com",  # ideographic full stop
    "https://\uff41\uff43\uff4d\uff45.aha.io",  # fullwidth letters
    "https://acme\u200b.aha.io",  # zero-width space
    "https://acme.aha.io\u2044evil",  # fraction slash
    "https://xn--zz.aha.io",  # invalid punycode
    "https://a..aha.io",
    "https://.aha.io",
    "https://-acme.aha.io",
    "https://acme-.aha.io",
    "https://" + "a" * 64 + ".aha.io",
    "https://" + ".".join(["a" * 60] * 5),  # over 253 characters
    "https://ac_me.aha.io",
    "https://acme.aha.io:0",
    "https://acme.aha.io:99999",
    "https://[fe80::1%25eth0]",
    "https://acme.aha.io%2f@evil.com",
    "https://acme%2eaha.io",
]


@pytest.mark.parametrize("url", HOSTILE_HOSTS)
def test_hostile_host_names_raise_our_value_error_before_any_request(url: str) -> None:
    FIGURES.add("hostile_hosts")
    try:
        AhaClient(base_url=url, api_key="k")
    except requests.exceptions.InvalidURL:  # a ValueError too: check it first
        FIGURES.add("hostile_hosts_accepted")
        pytest.fail("requests' InvalidURL escaped instead of our ValueError")
    except ValueError as exc:
        assert "base_url" in str(exc)
        return
    FIGURES.add("hostile_hosts_accepted")
    pytest.fail(f"{url!r} was accepted")


def test_look_alike_error_names_the_punycode_and_punycode_is_accepted() -> None:
    with pytest.raises(ValueError, match=r"non-ASCII.*xn--") as info:
        AhaClient(base_url="https://acme.aha.i\u043e", api_key="k")
    assert not isinstance(info.value, requests.exceptions.InvalidURL)
    puny = "https://acme.aha.xn--i-1tb"
    assert AhaClient(base_url=puny, api_key="k").base_url == puny
    assert AhaClient(base_url="https://ACME.aha.io./", api_key="k").base_url == (
        "https://acme.aha.io"
    )


def test_subdomain_given_as_a_url_says_to_use_base_url() -> None:
    with pytest.raises(ValueError, match="use base_url"):
        AhaClient("https://acme.aha.io", api_key="k")


# -- proxies -----------------------------------------------------------------------------------


def _refuse(conn: socket.socket, head: bytes) -> None:
    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def proxy() -> Any:
    with raw_server(_refuse, lifetime=30) as server:
        yield server


def test_plain_http_loopback_never_goes_through_a_proxy(
    monkeypatch: pytest.MonkeyPatch, proxy: Any, httpserver: HTTPServer
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    httpserver.expect_request("/api/v1/me").respond_with_json({"user": {"id": "1"}})
    for base in (httpserver.url_for("/").rstrip("/"), f"http://localhost:{httpserver.port}"):
        session = requests.Session()
        session.proxies = {"http": proxy.url}  # even a session's own proxy
        with AhaClient(base_url=base, api_key="k-secret", session=session) as client:
            assert client.me() == {"user": {"id": "1"}}["user"]
    assert proxy.heads == []  # the key never reached the proxy


def test_https_accounts_keep_the_environment_proxy_read_once(
    monkeypatch: pytest.MonkeyPatch, proxy: Any
) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    calls = {"n": 0}
    real = requests.sessions.get_environ_proxies

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counting)
    with AhaClient("acme", api_key="k-secret", max_retries=0, timeout=5) as client:
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # changed later: not re-read
        for _ in range(3):
            with pytest.raises(AhaConnectionError):
                client.me()
    # every request went to the configured proxy (CONNECT, the key stays inside TLS)
    assert len(proxy.heads) == 3
    assert all(h.startswith(b"CONNECT acme.aha.io:443 ") for h in proxy.heads)
    assert not any(b"k-secret" in h for h in proxy.heads)
    assert calls["n"] == 0  # requests no longer reads the environment per call


# -- headers -----------------------------------------------------------------------------------

FORBIDDEN = [
    {" Authorization": "Bearer other"},
    {"AUTHORIZATION ": "Bearer other"},
    {"\tcookie": "a=b"},
    {"Host ": "evil.com"},
    {"transfer-encoding": "chunked"},
    {"Transfer-Encoding ": "chunked"},
    {"X-HTTP-Method-Override": "DELETE"},
    {" x-http-method-override": "DELETE"},
    {"X-HTTP-Method": "PUT"},
    {"X-Method-Override": "DELETE"},
    {"Content-Length": "0"},
    {"Connection": "close"},
    {"Proxy-Authorization": "x"},
    {"X-Trace": "a", "x-trace ": "b"},
    {"X Trace": "a"},
    {"X-Trace": "a\r\nAuthorization: x"},
]


@pytest.mark.parametrize("headers", FORBIDDEN, ids=lambda h: repr(next(iter(h))))
def test_forbidden_headers_are_refused_after_normalising_names(
    httpserver: HTTPServer, headers: dict[str, str]
) -> None:
    FIGURES.add("hostile_inputs")
    with (
        AhaClient(base_url=httpserver.url_for("/").rstrip("/"), api_key="k") as client,
        pytest.raises(ValueError),
    ):
        client.request("GET", "me", headers=headers)
    with pytest.raises(ValidationError):
        AhaDestination(method="POST", path="teams", wrap_key="team", headers=headers)
    assert httpserver.log == []


def test_allowed_headers_are_sent_with_normalised_names(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/me", headers={"X-Trace": "abc"}).respond_with_json(
        {"user": {"id": "1"}}
    )
    with AhaClient(base_url=httpserver.url_for("/").rstrip("/"), api_key="k") as client:
        client.request("GET", "me", headers={" X-Trace ": " abc"})
    dest = AhaDestination(method="POST", path="teams", wrap_key="team", headers={" X-A ": "1"})
    assert dest.headers == {"X-A": "1"}


def test_resource_errors_are_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises((ValueError, AhaError)):
        AhaResource(base_url="https://acme.aha.i\u043e", api_key="k").get_client()


def test_https_accounts_keep_the_ca_bundle_and_no_proxy_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp-ca.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "acme.aha.io")
    with AhaClient("acme", api_key="k") as client:
        session = client._session
        assert session.trust_env is False  # read once, here
        assert session.verify == "/etc/corp-ca.pem"
        assert not session.proxies.get("https")  # NO_PROXY names the account's host
    monkeypatch.setenv("NO_PROXY", "other.example")
    with AhaClient("acme", api_key="k") as client:
        assert client._session.proxies.get("https") == "http://proxy.corp:3128"
