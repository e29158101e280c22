"""The ``Authorization: Bearer`` header of every request, and the redaction of its key."""

from __future__ import annotations

import requests
import requests.auth

from dagster_aha.client.scrub import Redactor

__all__ = ["BearerAuth"]


class BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer``; its repr never shows the key.

    Setting ``auth`` on the session also stops requests from applying ``~/.netrc`` credentials.
    """

    def __init__(self, key: str) -> None:
        self._header = f"Bearer {key}"
        self.redactor = Redactor(key)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self._header
        return r

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"

    def scrub(self, data: bytes) -> bytes:
        """``data`` with the key, in any encoding a server may echo it in, redacted."""
        return self.redactor.bytes(data)
