"""AhaResource: the Dagster resource wrapping :class:`~dagster_aha.client.AhaClient`."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from dagster_aha.client import AhaClient
from dagster_aha.client.transport import DEFAULT_MAX_RESPONSE_BYTES
from dagster_aha.client.urls import is_loopback_url, resolve_base_url
from dagster_aha.client.waits import DEFAULT_WAIT_BUDGET

__all__ = ["AhaResource", "PlainSecretError", "check_key_is_deferred"]

#: Set while Dagster re-creates a configured resource at run time from its resolved config
#: (an ``EnvVar`` key is then a plain string: that is not a key written into the code).
_RESOLVING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "dagster_aha_resource_resolving", default=False
)


class PlainSecretError(ValueError):
    """A plain-text API key for an account that is not on loopback (refused)."""


def check_key_is_deferred(
    api_key: Any, subdomain: Any, base_url: Any, *, owner: str = "AhaResource"
) -> None:
    """Refuse a plain-string key for any account that is not a literal loopback ``base_url``.

    A plain string given to a Dagster resource is shown on the UI's resource page and kept in
    run storage; ``dg.EnvVar("NAME")`` is shown and stored by name only. Local sandboxes and
    test servers (``http://127.0.0.1:...``, ``http://localhost:...``) may keep plain keys.
    """
    if api_key is None or isinstance(api_key, dg.EnvVar) or not isinstance(api_key, str):
        return
    if subdomain is None and base_url is None:
        return  # no account configured here (bound elsewhere, or a subclass supplies it)
    if not isinstance(subdomain, dg.EnvVar) and not isinstance(base_url, dg.EnvVar):
        resolve_base_url(subdomain, base_url)  # an invalid account is reported first
    if (
        subdomain is None
        and isinstance(base_url, str)
        and not isinstance(base_url, dg.EnvVar)
        and is_loopback_url(base_url)
    ):
        return
    if owner == "AhaComponent":
        form = 'api_key: "{{ env.AHA_API_KEY }}"'
    else:
        form = 'api_key=dg.EnvVar("AHA_API_KEY")'
    raise PlainSecretError(
        f"{owner}: api_key is a plain string, which Dagster shows on the resource page and "
        f"keeps in run storage. Read it from an environment variable instead: {form} "
        "(shown and stored by its name only). Plain keys are accepted only for a local "
        "sandbox or test server on a loopback base_url."
    )


class AhaResource(dg.ConfigurableResource):
    """Aha! REST API access for Dagster assets and ops.

    Example: `AhaResource(subdomain="acme", api_key=dg.EnvVar("AHA_API_KEY"),
    user_agent="acme-data (data@acme.com)")`. The key must come from `dg.EnvVar` (a plain
    string is refused unless `base_url` is a local sandbox on loopback).
    """

    def __init__(self, **data: Any) -> None:
        if not _RESOLVING.get():
            check_key_is_deferred(data.get("api_key"), data.get("subdomain"), data.get("base_url"))
        super().__init__(**data)

    def _with_updated_values(self, values: Mapping[str, Any] | None) -> Any:
        # Dagster re-creates the resource at run time with its config resolved (the EnvVar's
        # value in place of the EnvVar): not a plain key written into the definitions.
        token = _RESOLVING.set(True)
        try:
            return super()._with_updated_values(values)
        finally:
            _RESOLVING.reset(token)

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
        description='Aha! API key or OAuth2 token, as `dg.EnvVar("AHA_API_KEY")`: the UI and '
        "run storage then show the variable's name only. A plain string is refused (except "
        "for a local sandbox on loopback). The key itself never appears in repr, logs or "
        "errors.",
        repr=False,
    )
    user_agent: str | None = Field(
        default=None,
        description="Your product and contact, e.g. 'acme-data (data@acme.com)'; Aha! asks "
        "for a contact. Sent before 'dagster-aha/<version>'.",
    )
    timeout: float = Field(
        default=30.0,
        description="Deadline in seconds of one HTTP attempt as a whole (connect, send, "
        "response and body).",
    )
    wait_budget: float = Field(
        default=DEFAULT_WAIT_BUDGET,
        description="Seconds one request may wait in total between its attempts (back-offs, "
        "Retry-After, 429 pauses, the wait for a request slot); beyond it the request fails "
        "with AhaWaitBudgetError.",
    )
    max_response_bytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES,
        description="Largest response body read, in bytes (64 MiB); a larger one fails with "
        "AhaResponseTooLargeError.",
    )
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
                wait_budget=self.wait_budget,
                max_response_bytes=self.max_response_bytes,
            )
        return self._client

    def verify(self) -> dict[str, Any]:
        """Check the credentials and endpoint: the current user (``GET /api/v1/me``)."""
        return self.get_client().me()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
