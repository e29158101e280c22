"""The error every sandbox layer raises for an API error response."""

from __future__ import annotations


class SandboxError(Exception):
    """An API error the server turns into a JSON error response (``{"error": message}``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
