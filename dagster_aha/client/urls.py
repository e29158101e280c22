"""Account URL validation and path-segment encoding.

The API key must never be sent anywhere but the account's own Aha! host, so every base URL is
validated before a session is even created, and every path is checked before a request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from urllib.parse import quote, urlsplit

__all__ = [
    "API_PREFIX",
    "SUBDOMAIN_RE",
    "ShownUrl",
    "check_api_path",
    "is_loopback_url",
    "quote_segment",
    "resolve_base_url",
    "validate_subdomain",
]

API_PREFIX = "/api/v1/"
SUBDOMAIN_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_CTRL_RE = re.compile(r"[\x00-\x20\x7f]")


def validate_subdomain(subdomain: str) -> str:
    """Return ``subdomain`` if it is a plain Aha! account name, else raise ``ValueError``."""
    if not isinstance(subdomain, str) or not SUBDOMAIN_RE.fullmatch(subdomain):
        hint = ""
        if isinstance(subdomain, str) and ("://" in subdomain or "." in subdomain):
            hint = "; to give a URL, use base_url instead"
        raise ValueError(
            f"invalid Aha! subdomain {subdomain!r}: expected the account name only "
            f"(lowercase letters, digits and '-', e.g. 'acme' for https://acme.aha.io){hint}"
        )
    return subdomain


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` (an account root) is on a loopback address (a local sandbox)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return bool(host) and _is_loopback(host or "")


_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_API_SUFFIX_RE = re.compile(r"/api/v1/?$")


def _check_host(base_url: str, host: str) -> None:
    """An IP literal or an ASCII DNS name (IDNA only as punycode), else ``ValueError``."""
    if "%" in host:
        raise ValueError(f"invalid base_url {base_url!r}: '%' (or an IPv6 zone) in the host")
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not host.isascii():
        try:
            puny = f" ({host.encode('idna').decode('ascii')} in punycode)"
        except UnicodeError:
            puny = ""
        raise ValueError(
            f"invalid base_url {base_url!r}: the host name contains non-ASCII characters"
            f"{puny}, which can look identical to another (ASCII) host in logs; give an "
            "internationalised name in its punycode form (xn--...)"
        )
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise ValueError(
            f"invalid base_url {base_url!r}: {host!r} is not a valid host name (labels of "
            "1-63 letters, digits or '-', not starting or ending with '-')"
        )
    for label in labels:
        if label.startswith("xn--"):
            try:
                label.encode("ascii").decode("idna")
            except UnicodeError:
                raise ValueError(
                    f"invalid base_url {base_url!r}: {label!r} is not valid punycode"
                ) from None


def _validate_base_url(base_url: str) -> str:
    if not isinstance(base_url, str) or not base_url or _CTRL_RE.search(base_url):
        raise ValueError(f"invalid base_url {base_url!r}")
    if "\\" in base_url:
        raise ValueError(f"invalid base_url {base_url!r}: backslashes are not allowed")
    # the URL the sandbox prints, or a copied API URL: the account root is what is meant
    base_url = _API_SUFFIX_RE.sub("", base_url)
    try:
        parts = urlsplit(base_url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid base_url {base_url!r}: {exc}") from None
    if scheme not in ("https", "http"):
        raise ValueError(f"invalid base_url {base_url!r}: the scheme must be https")
    if not host:
        raise ValueError(f"invalid base_url {base_url!r}: no host")
    _check_host(base_url, host)
    if port == 0:
        raise ValueError(f"invalid base_url {base_url!r}: port 0")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("invalid base_url: credentials in the URL are not allowed")
    if (
        parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or base_url.endswith(("?", "#"))
    ):
        raise ValueError(
            f"invalid base_url {base_url!r}: give the account root only, e.g. "
            "'https://acme.aha.io' or 'https://acme.aha.io/api/v1' (paths are added by the "
            "client)"
        )
    if scheme == "http" and not _is_loopback(host):
        raise ValueError(
            f"invalid base_url {base_url!r}: plain http is only allowed on a loopback "
            "address (127.0.0.0/8, ::1, localhost); use https"
        )
    host = host[:-1] if host.endswith(".") else host  # the root label: same host
    netloc_host = f"[{host}]" if ":" in host else host
    netloc = f"{netloc_host}:{port}" if port is not None else netloc_host
    return f"{scheme}://{netloc}"


def resolve_base_url(subdomain: str | None, base_url: str | None) -> str:
    """Return the account root URL (no trailing slash) from exactly one of the two inputs."""
    if (subdomain is None) == (base_url is None):
        raise ValueError("give exactly one of subdomain or base_url")
    if subdomain is not None:
        return f"https://{validate_subdomain(subdomain)}.aha.io"
    assert base_url is not None
    return _validate_base_url(base_url)


def quote_segment(value: object) -> str:
    """URL-encode one path segment taken from data (an id, a reference number, a table key).

    Everything except unreserved characters is percent-encoded, so ``/``, ``?``, ``#`` and
    ``%`` cannot change the endpoint. The dot-segments ``.`` and ``..`` (which no Aha! id or key
    can be) raise ``ValueError``.
    """
    if value is None or isinstance(value, bool):
        raise ValueError(f"invalid path segment {value!r}")
    text = str(value)
    if not text:
        raise ValueError("empty path segment")
    if text in (".", ".."):
        raise ValueError(f"invalid path segment {text!r}")
    return quote(text, safe="")


def check_api_path(path: str) -> str:
    """Validate a path relative to ``/api/v1/`` and return it without a leading slash.

    Refuses absolute URLs, ``..``/``.`` segments, empty segments, ``?``, ``#``, backslashes,
    whitespace and control characters (``ValueError``; nothing is sent).
    """
    if not isinstance(path, str) or not path:
        raise ValueError(f"invalid API path {path!r}")
    if "://" in path or path.startswith("//"):
        raise ValueError(f"invalid API path {path!r}: absolute URLs are not allowed")
    if any(ch in path for ch in "?#\\") or _CTRL_RE.search(path):
        raise ValueError(
            f"invalid API path {path!r}: '?', '#', backslashes and whitespace are not allowed "
            "(pass query parameters as params=, and quote_segment() data-derived segments)"
        )
    rel = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path.lstrip("/")
    segments = rel.split("/")
    for seg in segments:
        if seg in ("", ".", "..") or seg.lower() in ("%2e", "%2e%2e", ".%2e", "%2e."):
            raise ValueError(
                f"invalid API path {path!r}: empty, '.' and '..' segments are not allowed"
            )
    return rel


class ShownUrl:
    """A request's URL as messages show it (query included, key redacted), built the first
    time it is shown: most requests succeed and never show it (building it costs a second
    ``prepare`` and a redaction pass, ~0.3 ms a request)."""

    __slots__ = ("_build", "_text")

    def __init__(self, build: Callable[[], str]) -> None:
        self._build = build
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = self._build()
        return self._text
