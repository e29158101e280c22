"""The write rules every kind shares: how one key of a POST/PUT body changes a record.

A kind's own keys (a feature's ``release``, a goal's ``success_metric``) are handled first by
its ``Kind.write`` (``kinds/<kind>.py``); what it does not handle falls through to these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.kinds.shared import (
    READ_ONLY_KEYS,
    find_user,
    merge_custom_fields,
    set_tags,
    user_ref,
)

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

_SCALARS = (str, int, float, bool)


def apply_changes(
    state: SandboxState, kind: str, rec: dict[str, Any], changes: dict[str, Any]
) -> None:
    """Apply a (partial) write body to a private copy ``rec``; bumps ``updated_at``."""
    spec = state.kind(kind)
    ts = state.now()
    for key, value in changes.items():
        if spec.write is not None and spec.write(state, rec, key, value, ts):
            continue
        apply_common(state, kind, rec, key, value, ts)
    rec["updated_at"] = ts


def apply_common(
    state: SandboxState, kind: str, rec: dict[str, Any], key: str, value: Any, ts: str
) -> None:
    """One key of a write body, by the rules all kinds share."""
    if key == "custom_fields":
        merge_custom_fields(rec, value, ts)
    elif key == "custom_object_links":
        # on records other than custom object records, links are custom fields of ids
        if not isinstance(value, dict):
            raise SandboxError(400, "custom_object_links must be an object")
        merge_custom_fields(rec, {k: [str(x) for x in (v or [])] for k, v in value.items()}, ts)
    elif key == "description":
        body = value.get("body") if isinstance(value, dict) else value
        desc = rec.get("description")
        if isinstance(desc, dict):
            rec["description"] = {**desc, "body": body, "updated_at": ts}
        else:
            rec["description"] = body
    elif key == "workflow_status":
        name = value.get("name") or value.get("id") if isinstance(value, dict) else value
        if not isinstance(name, str):
            raise SandboxError(422, "workflow_status needs a name")
        rec["workflow_status"] = state.status(kind, name)
    elif key == "tags" and state.kind(kind).taggable:
        tags = value.split(",") if isinstance(value, str) else list(value or [])
        set_tags(rec, [str(t) for t in tags])
    elif key == "assigned_to_user" and "assigned_to_user" in rec:
        rec["assigned_to_user"] = (
            {"default_assignee": False, **user_ref(find_user(state, value))} if value else None
        )
    elif key == "time_frame" and "time_frame" in rec and isinstance(value, dict):
        rec["time_frame"] = {
            "id": int(value.get("id") or 0) or rec["time_frame"]["id"],
            "name": value.get("name", rec["time_frame"]["name"]),
        }
    elif key in READ_ONLY_KEYS:
        return
    elif (
        key in rec
        and (rec[key] is None or isinstance(rec[key], _SCALARS))
        and (value is None or isinstance(value, _SCALARS))
    ):
        rec[key] = value
