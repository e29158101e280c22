"""The connection check job: ``GET /api/v1/me`` with the configured key, reporting who and where.

``build_aha_verify_job()`` (and the ``AhaComponent``'s ``<key_prefix>_verify`` job) runs one op
that asks Aha! for the current user and logs and records the user, the account and its URL as
output metadata. A wrong key or account fails the run with Aha!'s status and a hint; the key
itself is never shown. Run it without writing code::

    dg launch --job aha_verify
"""

# NB: no ``from __future__ import annotations``: Dagster reads the op's context annotation.

from collections.abc import Iterator
from typing import Any

import dagster as dg

from dagster_aha.client import AhaAuthError, AhaError

__all__ = ["build_aha_verify_job", "describe_me"]


def describe_me(user: dict[str, Any]) -> dict[str, str]:
    """The user and account fields of a ``GET /me`` user object that are worth showing."""
    out: dict[str, str] = {}
    for name in ("id", "name", "email"):
        value = user.get(name)
        if value is not None:
            out[f"user_{name}"] = str(value)
    accounts = user.get("accounts")
    names: list[str] = []
    domains: list[str] = []
    for item in accounts if isinstance(accounts, list) else []:
        account = item.get("account", item) if isinstance(item, dict) else None
        if isinstance(account, dict):
            if account.get("name"):
                names.append(str(account["name"]))
            if account.get("domain"):
                domains.append(str(account["domain"]))
    if names:
        out["account_name"] = ", ".join(names)
    if domains:
        out["account_domain"] = ", ".join(domains)
    roles = user.get("product_roles")
    if isinstance(roles, list):
        out["workspaces_with_a_role"] = str(len(roles))
    return out


def build_aha_verify_job(
    *, name: str = "aha_verify", resource_key: str = "aha", pool: str | None = "aha"
) -> dg.JobDefinition:
    """A job whose single op calls ``GET /api/v1/me`` and reports the user and account."""

    @dg.op(
        name=f"{name}_me",
        required_resource_keys={resource_key},
        pool=pool,
        description="GET /api/v1/me: checks the Aha! key and account; reports user and account.",
    )
    def _verify(context: dg.OpExecutionContext) -> Iterator[dg.Output[dict[str, str]]]:
        client = getattr(context.resources, resource_key).get_client()
        try:
            user = client.me()
        except AhaAuthError as exc:
            raise dg.Failure(
                f"Aha! rejected the API key for {client.account_url} ({exc.status}): check the "
                "account name (subdomain) and the key (regenerate it in Aha! under Settings > "
                "Personal > Developer)."
            ) from exc
        except AhaError as exc:
            raise dg.Failure(
                f"Aha! connection check against {client.account_url} failed: {exc}"
            ) from exc
        facts = describe_me(user)
        who = facts.get("user_name", "?")
        if "user_email" in facts:
            who += f" <{facts['user_email']}>"
        account = facts.get("account_name") or facts.get("account_domain") or "?"
        context.log.info(
            f"Aha! connection OK: {client.account_url} answers for user {who}, account {account}"
        )
        yield dg.Output(
            {"account_url": client.account_url, **facts},
            metadata={
                "aha/account_url": dg.MetadataValue.url(client.account_url),
                **{f"aha/{k}": dg.MetadataValue.text(v) for k, v in facts.items()},
            },
        )

    @dg.job(
        name=name,
        description="Checks the Aha! connection: GET /api/v1/me, reports the user and account.",
    )
    def _verify_job() -> None:
        _verify()

    return _verify_job
