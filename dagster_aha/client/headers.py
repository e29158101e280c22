"""Extra request headers a caller (or a destination) may add, checked the same way everywhere.

Names are normalised first (surrounding whitespace removed, compared case-insensitively), so
``" authorization"`` or ``"AUTHORIZATION "`` cannot slip past the check. Refused (``ValueError``):
names that are not HTTP tokens, control characters in values, the same name twice, and every
header that carries credentials, frames the message or changes the method the server applies:
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["FORBIDDEN_HEADERS", "METHOD_OVERRIDE_HEADERS", "check_headers"]

#: Headers that would let a caller pick the HTTP method behind the client's back.
METHOD_OVERRIDE_HEADERS = frozenset(
    {"x-http-method-override", "x-http-method", "x-method-override", "x-original-method"}
)
#: Never settable per request or per destination (lower case). Names starting with
#: ``proxy-`` are refused too.
FORBIDDEN_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "content-length",
        "transfer-encoding",
        "te",
        "trailer",
        "connection",
        "keep-alive",
        "upgrade",
        "expect",
        *METHOD_OVERRIDE_HEADERS,
    }
)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_CTRL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """``headers`` with normalised names and trimmed values, or ``ValueError``."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for raw_name, value in (headers or {}).items():
        if not isinstance(raw_name, str) or not isinstance(value, str):
            raise ValueError("header names and values must be strings")
        name = raw_name.strip()
        lower = name.lower()
        if not _TOKEN_RE.match(name):
            raise ValueError(f"header name {raw_name!r} is not a valid HTTP header name")
        if lower in FORBIDDEN_HEADERS or lower.startswith("proxy-"):
            what = (
                "it would change the HTTP method the server applies"
                if lower in METHOD_OVERRIDE_HEADERS
                else "authentication, host, cookies and message framing are set by the client"
            )
            raise ValueError(f"header {raw_name!r} cannot be set: {what}")
        if lower in seen:
            raise ValueError(f"header {name!r} is given twice (names are case-insensitive)")
        if _CTRL_RE.search(value) or _CTRL_RE.search(raw_name):
            raise ValueError(f"header {name!r} contains a control character")
        seen.add(lower)
        out[name] = value.strip()
    return out
