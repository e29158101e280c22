"""Plain-requests helper bound to one sandbox (tests use requests, not our client)."""

from __future__ import annotations

from typing import Any

import requests

from dagster_aha.testing import AhaSandbox

KEY = "sandbox-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


class Api:
    """Plain-requests helper bound to one sandbox."""

    def __init__(self, sandbox: AhaSandbox) -> None:
        self.sb = sandbox
        self.session = requests.Session()
        self.session.headers.update(AUTH)

    def url(self, path: str) -> str:
        return f"{self.sb.url}/api/v1/{path}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.url(path), params=params, timeout=10)

    def post(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.session.post(self.url(path), json=body, params=params, timeout=10)

    def put(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.session.put(self.url(path), json=body, params=params, timeout=10)

    def delete(self, path: str, **params: Any) -> requests.Response:
        return self.session.delete(self.url(path), params=params, timeout=10)
