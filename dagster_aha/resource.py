"""AhaResource: the Dagster resource wrapping :class:`~dagster_aha.client.AhaClient`."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from dagster_aha.client import AhaClient

__all__ = ["AhaResource"]


class AhaResource(dg.ConfigurableResource):
    """Aha! REST API access for Dagster assets and ops.

    Example::

        AhaResource(subdomain="acme", api_key=dg.EnvVar("AHA_API_KEY"),
                    user_agent="acme-data (data@acme.com)")
    """

    subdomain: str | None = Field(
        default=None,
        description="Aha! account name ('acme' for https://acme.aha.io). Exactly one of "
        "subdomain and base_url.",
    )
    base_url: str | None = Field(
        default=None,
        description="Account root URL instead of a subdomain (https, or http on loopback for a "
        "local sandbox).",
    )
    api_key: str = Field(
        description='Aha! API key or OAuth2 token. Pass it as dg.EnvVar("AHA_API_KEY") so it '
        "never appears in code or run config; it is never shown in repr, logs or errors.",
        repr=False,
    )
    user_agent: str | None = Field(
        default=None,
        description="Your product and contact, e.g. 'acme-data (data@acme.com)'; Aha! asks "
        "for a contact. Sent before 'dagster-aha/<version>'.",
    )
    timeout: float = Field(default=30.0, description="Seconds per HTTP attempt.")
    max_retries: int = Field(
        default=5, description="Retries for 5xx, timeouts and connection errors (and 429s)."
    )
    per_page: int = Field(default=200, description="Page size of list calls (max 200).")
    requests_per_second: float = Field(default=20, description="Proactive per-second limit.")
    requests_per_minute: float = Field(default=300, description="Proactive per-minute limit.")
    max_concurrency: int = Field(
        default=64,
        description="Upper cap of pages in flight per read; the read keeps rate x round trip "
        "in flight (Little's law), so the cap is rarely reached.",
    )
    budget_store: str = Field(
        default="process",
        description="Where the account's rate budget is shared: 'process' (this process), "
        "'host' (a SQLite file for every process of this host, e.g. the multiprocess "
        "executor), 'sqlite:///path', or a PostgreSQL SQLAlchemy URL for a fleet "
        "(postgresql+psycopg2://...; pass it as an EnvVar when it holds a password).",
    )
    backoff_base: float = Field(
        default=0.5,
        description="First retry back-off in seconds (doubles per attempt, full jitter).",
    )
    backoff_max: float = Field(default=30.0, description="Longest retry back-off in seconds.")
    time_scale: float = Field(
        default=1.0,
        description="Divides the rate-limit window lengths, for simulators with compressed time "
        "(AhaSandbox(time_scale=...)). Keep 1.0 for Aha! itself.",
    )
    disable_mailers: bool = Field(
        default=True,
        description="Send disable_mailers=true on every POST/PUT/DELETE (suppresses Aha! "
        "notification emails).",
    )

    _client: AhaClient | None = PrivateAttr(default=None)

    def get_client(self) -> AhaClient:
        """The client for this resource (created once per resource instance)."""
        if self._client is None:
            self._client = AhaClient(
                self.subdomain,
                self.api_key,
                base_url=self.base_url,
                user_agent=self.user_agent,
                timeout=self.timeout,
                max_retries=self.max_retries,
                per_page=self.per_page,
                requests_per_second=self.requests_per_second,
                requests_per_minute=self.requests_per_minute,
                max_concurrency=self.max_concurrency,
                disable_mailers=self.disable_mailers,
                backoff_base=self.backoff_base,
                backoff_max=self.backoff_max,
                time_scale=self.time_scale,
                budget_store=self.budget_store,
            )
        return self._client

    def verify(self) -> dict[str, Any]:
        """Check the credentials and endpoint: the current user (``GET /api/v1/me``)."""
        return self.get_client().me()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
