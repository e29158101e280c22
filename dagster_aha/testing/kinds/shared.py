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
    """A record's ``goals``: the compact goal reference the examples show (with the goal's
    ``description`` note), or none."""
    if not goal:
        return []
    keys = ("id", "name", "url", "resource", "created_at", "description")
    return [{k: goal[k] for k in keys}]


def initiative_ref(init: dict[str, Any]) -> dict[str, Any]:
    """The ``initiative`` a feature or epic embeds: a record reference plus the initiative's
    ``description`` note and ``integration_fields``, as in the examples."""
    return {
        **record_ref(init),
        "description": init["description"],
        "integration_fields": init["integration_fields"],
    }


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


def user_list_field(key: str, users: list[dict[str, Any]], ts: str) -> dict[str, Any]:
    """A user-list custom field: ``value`` ids, ``full_value`` users, ``email_value``."""
    cf = custom_field(key, [u["id"] for u in users], ts, type_="array")
    cf["full_value"] = [user_ref(u) for u in users]
    cf["email_value"] = [u["email"] for u in users]
    return cf


def merge_custom_fields(
    rec: dict[str, Any], value: Any, ts: str, state: SandboxState | None = None
) -> None:
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
                if "full_value" in cf and state is not None:
                    # a user list: ids or emails in, ids + full_value + email_value out
                    names = val if isinstance(val, list) else [] if val is None else [val]
                    fields[i] = user_list_field(key, [find_user(state, v) for v in names], ts)
                else:
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


#: the account's time frames (goals, initiatives): id -> name
TIME_FRAMES = {834757622: "2018", 813624702: "2019", 835121488: "2020"}


def status_name(value: Any) -> str:
    """The status a ``workflow_status`` write names: ``"Designed"`` or ``{"name": ...}``."""
    name = value.get("name") or value.get("id") if isinstance(value, dict) else value
    if not isinstance(name, str):
        raise SandboxError(422, "workflow_status needs a name")
    return name


def time_frame(value: Any, current: Any) -> dict[str, Any]:
    """A ``time_frame`` write: ``{"id": 813624702}`` or ``{"name": "2019"}`` of a known one."""
    if not isinstance(value, dict):
        raise SandboxError(422, "time_frame must be an object with an id or a name")
    tf_id, name = value.get("id"), value.get("name")
    for known_id, known_name in TIME_FRAMES.items():
        if (tf_id is not None and str(tf_id) == str(known_id)) or (
            tf_id is None and name is not None and str(name) == known_name
        ):
            return {"id": known_id, "name": known_name}
    if tf_id is None and isinstance(name, (str, int)) and str(name).strip():
        # a time frame by a new name (the documented goal example names "2015")
        label = str(name).strip()[:60]
        return {
            "id": int(hashlib.sha256(f"tf:{label}".encode()).hexdigest()[:8], 16),
            "name": label,
        }
    if tf_id is None and name is None and isinstance(current, dict):
        return current
    raise SandboxError(422, "Time frame not found")


def linked_record_ids(state: SandboxState, value: Any) -> dict[str, list[int]]:
    """A ``custom_object_links`` write: field key -> ids of existing custom table records."""
    if not isinstance(value, dict):
        raise SandboxError(400, "custom_object_links must be an object")
    out: dict[str, list[int]] = {}
    for key, ids in value.items():
        if ids is None:
            ids = []
        if not isinstance(ids, list):
            raise SandboxError(400, f"custom_object_links.{str(key)[:40]} must be an array")
        found = []
        for raw in ids:
            rec = state.find("custom_object_records", str(raw))
            if isinstance(raw, bool) or rec is None:
                raise SandboxError(422, f"Custom table record {str(raw)[:40]!r} not found")
            found.append(int(rec["id"]))
        out[str(key)] = found
    return out
