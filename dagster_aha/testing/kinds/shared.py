"""Building blocks several resource kinds share: notes, compact references to other records,
custom fields, tags, the account's URLs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dagster_aha.testing.errors import SandboxError

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

HOST = "https://sandbox.aha.io"
API = f"{HOST}/api/v1"

#: keys of a product in lists and in other records' ``project`` (the spec's list example)
PRODUCT_REF_KEYS: tuple[str, ...] = (
    "id",
    "reference_prefix",
    "name",
    "product_line",
    "created_at",
    "url",
    "workspace_type",
)
#: keys of a release in lists and in other records' ``release``
RELEASE_REF_KEYS: tuple[str, ...] = (
    "id",
    "product_id",
    "reference_num",
    "name",
    "start_date",
    "release_date",
    "parking_lot",
    "created_at",
    "url",
    "resource",
    "integration_fields",
    "owner",
    "project",
)
#: write-body keys no write changes
READ_ONLY_KEYS = frozenset(
    {"id", "reference_num", "product_id", "created_at", "updated_at", "url", "resource", "project"}
)


def note(state: SandboxState, owner_id: str, owner_type: str, body: str, ts: str) -> dict[str, Any]:
    """A rich-text note object (``description``, ``theme``)."""
    return {
        "id": state.new_id(),
        "body": body,
        "notable_id": owner_id,
        "notable_type": owner_type,
        "editor_version": 2,
        "created_at": ts,
        "updated_at": ts,
        "attachments": [],
    }


def user_ref(u: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": u["id"],
        "name": u["name"],
        "email": u["email"],
        "created_at": u["created_at"],
        "updated_at": u["updated_at"],
    }


def project_ref(p: dict[str, Any]) -> dict[str, Any]:
    return {k: p[k] for k in PRODUCT_REF_KEYS}


def release_ref(rel: dict[str, Any]) -> dict[str, Any]:
    return {k: rel[k] for k in RELEASE_REF_KEYS}


def goal_refs(goal: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A record's ``goals``: the compact goal reference the examples show, or none."""
    if not goal:
        return []
    keys = ("id", "name", "url", "resource", "created_at")
    return [{k: goal[k] for k in keys}]


def record_ref(rec: dict[str, Any]) -> dict[str, Any]:
    """The compact reference to an epic / initiative another record embeds."""
    return {
        "id": rec["id"],
        "name": rec["name"],
        "reference_num": rec["reference_num"],
        "created_at": rec["created_at"],
        "url": rec["url"],
        "resource": rec["resource"],
    }


def custom_field(key: str, value: Any, ts: str, *, type_: str | None = None) -> dict[str, Any]:
    if type_ is None:
        type_ = (
            "array"
            if isinstance(value, list)
            else "number"
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else "string"
        )
    stable = int(hashlib.sha256(f"cf:{key}".encode()).hexdigest()[:8], 16)
    return {
        "id": stable,
        "key": key,
        "name": key.replace("_", " ").capitalize(),
        "updatedAt": ts[:19] + "Z",
        "type": type_,
        "value": value,
    }


def merge_custom_fields(rec: dict[str, Any], value: Any, ts: str) -> None:
    """Apply a ``custom_fields`` write (object or ``[{key, value}]``) to ``rec``."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = []
        for item in value:
            if not isinstance(item, dict) or "key" not in item:
                raise SandboxError(400, "custom_fields array items need 'key' and 'value'")
            items.append((str(item["key"]), item.get("value")))
    else:
        raise SandboxError(400, "custom_fields must be an object or an array")
    fields = list(rec.get("custom_fields") or [])
    for key, val in items:
        for i, cf in enumerate(fields):
            if cf.get("key") == key:
                fields[i] = {**cf, "value": val, "updatedAt": ts[:19] + "Z"}
                break
        else:
            fields.append(custom_field(str(key), val, ts))
    rec["custom_fields"] = fields


def cf_matches(rec: dict[str, Any], key: str, wanted: str) -> bool:
    """Whether ``rec``'s custom field ``key`` holds ``wanted`` (the ``custom_fields[key]=``
    list filter; arrays match any element)."""
    for cf in rec.get("custom_fields") or []:
        if cf.get("key") == key:
            v = cf.get("value")
            if isinstance(v, list):
                return wanted in [str(x) for x in v]
            return v is not None and str(v) == wanted
    return False


def set_tags(rec: dict[str, Any], tags: Iterable[str]) -> None:
    names = [t.strip() for t in tags if str(t).strip()]
    rec["tags"] = names
    rec["full_tags"] = [
        {
            "id": int(hashlib.sha256(f"tag:{t}".encode()).hexdigest()[:7], 16),
            "name": t,
            "color": "#e09052",
        }
        for t in names
    ]


def find_user(state: SandboxState, value: Any) -> dict[str, Any]:
    """The user a write names (id, email, or an object carrying one)."""
    if isinstance(value, dict):
        value = value.get("email") or value.get("id")
    for u in state.snapshot("users"):
        if value in (u["id"], u["email"]):
            return u
    raise SandboxError(422, "Assigned user not found")


def release_of(state: SandboxState, rec: dict[str, Any], value: Any) -> dict[str, Any]:
    """The release a feature/epic write moves ``rec`` to (same product only)."""
    rel_key = value.get("id") if isinstance(value, dict) else value
    rel = state.find("releases", str(rel_key))
    if rel is None or rel["product_id"] != rec["product_id"]:
        raise SandboxError(422, "Release not found in this product")
    return rel
