"""Scaffolder of ``AhaComponent``: ``dg scaffold defs dagster_aha.AhaComponent aha_ingest``.

Writes a ``defs.yaml`` that loads as is: the credentials are ``{{ env.* }}`` references, read
when a run starts (not while definitions load), so the scaffolded component can be checked with
``dg check defs`` before the variables are set. The API key itself is never written to a file:
only the name of the environment variable that holds it, except the sandbox's own key with
``--base-url http://127.0.0.1:PORT`` (a local sandbox). It then prints the next steps: the
connection check (``dg launch --job aha_verify``) and the state refresh (``dg utils
refresh-defs-state``).
"""

from __future__ import annotations

import re
from typing import Any

import dagster as dg
from pydantic import BaseModel, Field, field_validator

from dagster_aha.client.urls import is_loopback_url, resolve_base_url

__all__ = ["AhaComponentScaffolder", "AhaScaffoldParams"]

SCAFFOLD_STREAMS: tuple[str, ...] = ("products", "releases", "features", "epics")

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class AhaScaffoldParams(BaseModel):
    """Options of ``dg scaffold defs dagster_aha.AhaComponent <path>``."""

    subdomain: str | None = Field(
        default=None,
        description="Aha! account name (acme for acme.aha.io); default: the AHA_SUBDOMAIN "
        "environment variable.",
    )
    base_url: str | None = Field(
        default=None,
        description="Account root URL instead of a subdomain, e.g. http://127.0.0.1:8765 for a "
        "local sandbox (python -m dagster_aha.testing); its /api/v1/ URL is accepted too.",
    )
    sandbox_api_key: str = Field(
        default="sandbox-key",
        description="The key written as is when base_url is a local sandbox on loopback "
        "(the sandbox CLI prints it); any other account reads api_key_env_var.",
    )
    subdomain_env_var: str = Field(
        default="AHA_SUBDOMAIN",
        description="Environment variable holding the account name (when subdomain is unset).",
    )
    api_key_env_var: str = Field(
        default="AHA_API_KEY", description="Environment variable holding the API key."
    )
    streams: list[str] | None = Field(
        default=None, description="Record streams to read (default: " + ", ".join(SCAFFOLD_STREAMS)
    )

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else resolve_base_url(None, value)

    @field_validator("subdomain_env_var", "api_key_env_var")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME_RE.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value


class AhaComponentScaffolder(dg.Scaffolder[AhaScaffoldParams]):
    """Writes ``defs.yaml`` for an ``AhaComponent`` reading Aha! with env-var credentials."""

    @classmethod
    def get_scaffold_params(cls) -> type[AhaScaffoldParams]:
        return AhaScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[AhaScaffoldParams]) -> None:
        params = request.params if request.params is not None else AhaScaffoldParams()
        account: dict[str, Any]
        if params.base_url is not None:
            account = {"base_url": params.base_url}
        else:
            account = {"subdomain": params.subdomain or f"{{{{ env.{params.subdomain_env_var} }}}}"}
        env_key = f"{{{{ env.{params.api_key_env_var} }}}}"
        local = params.base_url is not None and is_loopback_url(params.base_url)
        attributes: dict[str, Any] = {
            **account,
            "api_key": params.sandbox_api_key if local else env_key,
            "streams": list(params.streams or SCAFFOLD_STREAMS),
            "incremental": True,
            "pool": "aha",
        }
        dg.scaffold_component(request, attributes)
        print(next_steps(params))


def next_steps(params: AhaScaffoldParams) -> str:
    """What to run after scaffolding (printed by the scaffolder)."""
    exports = []
    if not params.subdomain and params.base_url is None:
        exports.append(f"{params.subdomain_env_var}=<account name, acme for acme.aha.io>")
    if params.base_url is None or not is_loopback_url(params.base_url):
        exports.append(f"{params.api_key_env_var}=<API key>")
    return "\n".join(
        [
            "AhaComponent scaffolded. Next:",
            *(["  export " + " ".join(exports)] if exports else []),
            "  dg launch --job aha_verify          # connection check: GET /me, shows user "
            "and account",
            "  dg utils refresh-defs-state         # reads products, custom tables, custom "
            "fields, report columns",
            "  dg check defs                       # loads from that state, no Aha! call",
        ]
    )
