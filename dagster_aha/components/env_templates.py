"""``"{{ env.NAME }}"`` in the component's YAML: ``dg.EnvVar("NAME")``, read when a run starts.

Values written this way are NOT read while definitions load: they become ``dg.EnvVar`` on the
resource and are shown in the UI by the variable's name, never its value. A secret written as
any other template (evaluated at load time into plain text) is refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Optional, Union

import dagster as dg

__all__ = [
    "DeferredEnvStr",
    "DeferredSecretStr",
    "TemplatedSecretError",
    "resolve_deferred_env",
    "resolve_deferred_secret",
]

_ENV_TEMPLATE_RE = re.compile(
    r"""^\s*\{\{\s*(?:env\.([A-Za-z_][A-Za-z0-9_]*)|env\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\))\s*\}\}\s*$"""
)


def resolve_deferred_env(context: dg.ResolutionContext, raw: Any) -> Any:
    """``"{{ env.X }}"`` -> ``dg.EnvVar("X")`` (read at run time); anything else is resolved."""
    if isinstance(raw, str):
        match = _ENV_TEMPLATE_RE.match(raw)
        if match:
            return dg.EnvVar(match.group(1) or match.group(2))
    return context.resolve_value(raw)


class TemplatedSecretError(ValueError):
    """A secret written as a template that is evaluated while definitions load."""


def resolve_deferred_secret(context: dg.ResolutionContext, raw: Any) -> Any:
    """Like :func:`resolve_deferred_env`, but a template other than the two deferred forms is
    refused: ``{{ env.X | trim }}`` or ``{{ env.X or '' }}`` would be evaluated at load time
    into a plain string, shown in the UI and kept in run storage."""
    if isinstance(raw, str) and "{{" in raw and not _ENV_TEMPLATE_RE.match(raw):
        raise TemplatedSecretError(
            f"AhaComponent: api_key {raw!r} is a template evaluated while definitions load: "
            "its value would become plain text, shown in the UI and kept in run storage. Only "
            'api_key: "{{ env.AHA_API_KEY }}" (or "{{ env(\'AHA_API_KEY\') }}") is read when '
            "a run starts; put the exact value (trimmed) in the environment variable instead."
        )
    return resolve_deferred_env(context, raw)


# The field keeps the EnvVar itself (a str subclass that a plain ``str`` field would coerce to the
# variable's NAME); the YAML schema stays a plain optional string.
DeferredEnvStr = Annotated[
    Union[dg.EnvVar, str, None],  # noqa: UP007 - the resolver machinery needs a runtime type
    dg.Resolver(
        resolve_deferred_env,
        model_field_type=Optional[str],  # noqa: UP045
        inject_before_resolve=False,
        description='A value, or "{{ env.NAME }}" to read the environment variable NAME at run '
        "time (it is then shown as the variable's name, never its value).",
    ),
]


DeferredSecretStr = Annotated[
    Union[dg.EnvVar, str, None],  # noqa: UP007 - the resolver machinery needs a runtime type
    dg.Resolver(
        resolve_deferred_secret,
        model_field_type=Optional[str],  # noqa: UP045
        inject_before_resolve=False,
        description='"{{ env.NAME }}": the environment variable NAME, read at run time and shown '
        "by its name only. Other templates and plain strings are refused (except for a local "
        "sandbox on a loopback base_url).",
    ),
]
