"""Typed errors raised by :class:`~dagster_aha.client.AhaClient`.

Every error carries ``status`` (HTTP status or ``None`` for transport failures), ``method``,
``url`` (never containing credentials: the API key travels only in the ``Authorization``
header), the server's ``message`` and a short ``body_excerpt``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "AhaAmbiguousWriteError",
    "AhaAuthError",
    "AhaBadRequestError",
    "AhaBudgetStoreError",
    "AhaConnectionError",
    "AhaError",
    "AhaNotFoundError",
    "AhaRateLimitError",
    "AhaResponseError",
    "AhaResponseTooLargeError",
    "AhaServerError",
    "AhaTimeoutError",
    "AhaWaitBudgetError",
    "error_for_status",
    "parse_error_message",
]

EXCERPT_CHARS = 300


class AhaError(Exception):
    """Base class of every error raised by the Aha! client."""

    def __init__(
        self,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        message: str = "",
        body_excerpt: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.message = message
        self.body_excerpt = body_excerpt
        super().__init__(self._format())

    def _format(self) -> str:
        parts: list[str] = []
        if self.status is not None:
            parts.append(str(self.status))
        if self.method:
            parts.append(self.method)
        if self.url:
            parts.append(self.url)
        head = " ".join(parts)
        msg = self.message or type(self).__name__
        return f"{head}: {msg}" if head else msg

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.status, self.method, self.url, self.message, self.body_excerpt)
        return (type(self), args, dict(self.__dict__))


class AhaAuthError(AhaError):
    """401/403: the API key or token is wrong, revoked, or lacks permission."""


class AhaBadRequestError(AhaError):
    """400/422: the request was malformed or failed validation. Never retried."""


class AhaNotFoundError(AhaError):
    """404: the record does not exist or is not visible to this API key."""


class AhaRateLimitError(AhaError):
    """429 after the rate-limit retry budget was spent."""

    def __init__(
        self,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        message: str = "",
        body_excerpt: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, method, url, message, body_excerpt)


class AhaServerError(AhaError):
    """5xx (other than 504) after the retry budget was spent."""


class AhaTimeoutError(AhaError):
    """504 from the server, or a client-side timeout, after the retry budget."""


class AhaWaitBudgetError(AhaTimeoutError):
    """A request gave up because its next wait did not fit its total wait budget.

    ``waited``: seconds waited so far; ``budget``: the client's ``wait_budget``; ``requested``:
    the wait that did not fit (e.g. a ``Retry-After``). ``status`` is the last HTTP status.
    """

    def __init__(
        self,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        message: str = "",
        body_excerpt: str | None = None,
        *,
        waited: float = 0.0,
        budget: float = 0.0,
        requested: float | None = None,
    ) -> None:
        self.waited = waited
        self.budget = budget
        self.requested = requested
        super().__init__(status, method, url, message, body_excerpt)


class AhaConnectionError(AhaError):
    """The connection could not be established (or broke) after the retry budget."""


class AhaBudgetStoreError(AhaError):
    """The shared budget store (``budget_store=``: a SQLite file or PostgreSQL) failed.

    Raised before the request is sent (its slot could not be taken), so nothing reached Aha!.
    ``store`` is the store's URL without its password. Check that the database is reachable
    and writable, or choose another store.
    """

    store: str = ""


class AhaAmbiguousWriteError(AhaError):
    """A write (POST) whose outcome is unknown: the request may have been applied.

    Raised when the request was (or may have been) sent but no response arrived: a read
    timeout or a connection reset after sending. Look the record up before re-posting.
    """


class AhaResponseError(AhaError, ValueError):
    """A 2xx response whose body is not the JSON shape expected (also a ``ValueError``)."""


class AhaResponseTooLargeError(AhaResponseError):
    """A 2xx body larger than the client's ``max_response_bytes`` (not read, not retried).

    ``limit``: the cap in bytes; ``size``: the declared ``Content-Length`` or the bytes read
    when the cap was crossed. On a write the server has applied it: the outcome is unknown.
    """

    def __init__(
        self,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        message: str = "",
        body_excerpt: str | None = None,
        *,
        limit: int = 0,
        size: int = 0,
    ) -> None:
        self.limit = limit
        self.size = size
        super().__init__(status, method, url, message, body_excerpt)


_TAG_RE = re.compile(r"<[^>]+>")
_SCRIPT_RE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_WS_RE = re.compile(r"\s+")


def _strip_html(text: str) -> str:
    text = _SCRIPT_RE.sub(" ", text)
    text = _TAG_RE.sub(" ", text)
    return _WS_RE.sub(" ", html.unescape(text)).strip()


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = _WS_RE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _messages_from(value: Any) -> list[str]:
    """Flatten an ``errors`` value (string, list of strings/dicts, or field->messages dict)."""
    out: list[str] = []
    if value is None:
        return out
    if isinstance(value, str):
        if value.strip():
            out.append(value.strip())
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                msg = item.get("message") or item.get("error") or item.get("detail")
                field = item.get("field") or item.get("attribute")
                if msg is not None:
                    out.append(f"{field}: {msg}" if field else str(msg))
                else:
                    out.append(json.dumps(item, sort_keys=True, default=str))
            else:
                out.extend(_messages_from(item))
    elif isinstance(value, dict):
        if "message" in value and isinstance(value["message"], str):
            out.append(value["message"])
        else:
            for field, msgs in value.items():
                for msg in _messages_from(msgs) or [""]:
                    out.append(f"{field} {msg}".strip())
    else:
        out.append(str(value))
    return out


def parse_error_message(body: str | bytes | None, content_type: str | None = None) -> str:
    """Best-effort readable message from an error response body.

    Understands ``{"error": ...}``, ``{"message": ...}``, ``{"errors": [...]}`` (strings or
    ``{"message"}`` dicts), ``{"errors": {"field": ["msg"]}}`` and non-JSON (HTML) bodies.
    """
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    text = body.strip()
    if not text:
        return ""
    data: Any = None
    if text[:1] in "{[":
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    if isinstance(data, dict):
        parts: list[str] = []
        for key in ("error", "message"):
            val = data.get(key)
            if isinstance(val, str) and val.strip():
                if val.strip() not in parts:
                    parts.append(val.strip())
            elif isinstance(val, dict | list):
                parts.extend(_messages_from(val))
        parts.extend(m for m in _messages_from(data.get("errors")) if m not in parts)
        if parts:
            return "; ".join(parts)
        return _excerpt(json.dumps(data, default=str), 200)
    if isinstance(data, list):
        msgs = _messages_from(data)
        if msgs:
            return "; ".join(msgs)
    looks_html = "<" in text and ">" in text
    if looks_html or (content_type or "").startswith("text/html"):
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        stripped = _strip_html(text)
        if title:
            t = _strip_html(title.group(1))
            if t and not stripped.startswith(t):
                stripped = f"{t}: {stripped}"
        return _excerpt(stripped, 200)
    return _excerpt(text, 200)


def body_excerpt(body: str | bytes | None) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    return _excerpt(body) if body.strip() else None


_NOT_FOUND = "not found or not visible to this API key"


def error_for_status(
    status: int,
    method: str,
    url: str,
    body: str | bytes | None,
    content_type: str | None = None,
    retry_after: float | None = None,
    redact: Callable[[str], str] | None = None,
) -> AhaError:
    """Build the typed error for a non-2xx response.

    ``redact`` is applied to the message and the excerpt after the body was decoded (JSON
    escapes, HTML entities), so a key echoed in an escaped form cannot be reassembled.
    """
    message = parse_error_message(body, content_type)
    excerpt = body_excerpt(body)
    if redact is not None:
        message = redact(message)
        excerpt = redact(excerpt) if excerpt is not None else None
    if status in (401, 403):
        msg = message or ("unauthorized" if status == 401 else "forbidden")
        return AhaAuthError(
            status, method, url, f"{msg} (check the API key and its permissions)", excerpt
        )
    if status == 404:
        msg = f"{_NOT_FOUND}" + (f" ({message})" if message else "")
        return AhaNotFoundError(status, method, url, msg, excerpt)
    if status == 429:
        return AhaRateLimitError(
            status, method, url, message or "rate limit exceeded", excerpt, retry_after
        )
    if status == 504:
        return AhaTimeoutError(
            status,
            method,
            url,
            message or "gateway timeout (try a smaller per_page or fewer fields)",
            excerpt,
        )
    if status >= 500:
        return AhaServerError(status, method, url, message or "server error", excerpt)
    if status in (400, 422):
        return AhaBadRequestError(status, method, url, message or "bad request", excerpt)
    return AhaError(status, method, url, message or f"unexpected HTTP {status}", excerpt)
