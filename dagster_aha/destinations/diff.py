"""Field-level diffs: does an Aha! record already hold what we would send?

Only the fields we send are compared, each normalised the way Aha! returns it:

* ``description`` (HTML sent as a string) comes back as a note ``{"id", "body", ...}``;
* ``workflow_status`` (``"Designed"`` or ``{"name": "Designed"}``) comes back as
  ``{"id", "name", "complete", ...}``; users (``"a@b.c"`` / ``{"email"}``) as ``{"id", "name",
  "email"}``; ``release`` / ``epic`` / ``initiative`` (an id or a reference) as
  ``{"id", "reference_num", "name", ...}``;
* ``custom_fields`` (the write map ``{key: value}``) comes back as the read array
  ``[{"key", "value", ...}]``: each sent key is compared with its ``value`` (absent: unset);
* ``tags`` / ``watchers`` (a comma string or a list) come back as a list: compared as sets;
* numbers compare by value, also against their text (``5`` and ``"5"``, as Aha! may return a
  number field as text); strings compare exactly.

A field the Aha! record does not carry at all (e.g. a listing that ignored ``fields=``) counts
as changed: the diff never claims "unchanged" without having seen the value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["FieldChange", "diff_fields", "lookup_fields", "same_value"]

FieldChange = dict[str, Any]
"""``{"field": "custom_fields.priority", "before": "P2", "after": "P1"}``."""

_NOT_RETURNED = "(not returned by Aha!)"
_SET_FIELDS = ("tags", "watchers")
_OBJECT_KEYS = ("body", "name", "email", "reference_num", "id", "key", "value")


def lookup_fields(base: str, bodies: list[Mapping[str, Any]]) -> str:
    """``fields=`` of a look-up listing: ``base`` plus every top-level field we send."""
    names = [n for n in base.split(",") if n]
    for body in bodies:
        for key in body:
            if key not in names:
                names.append(key)
    return ",".join(names)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _scalar_equal(sent: Any, returned: Any) -> bool:
    if isinstance(sent, bool) or isinstance(returned, bool):
        if isinstance(sent, bool) and isinstance(returned, bool):
            return sent == returned
        text = str(returned if isinstance(sent, bool) else sent).strip().lower()
        flag = sent if isinstance(sent, bool) else returned
        return text == ("true" if flag else "false")
    if isinstance(sent, str) and isinstance(returned, str):
        return sent == returned
    a, b = _number(sent), _number(returned)
    if (
        a is not None
        and b is not None
        and (isinstance(sent, int | float) or isinstance(returned, int | float))
    ):
        return a == b
    return sent == returned


def _split(value: Any) -> list[Any] | None:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    return None


def same_value(sent: Any, returned: Any, field: str = "") -> bool:
    """Whether Aha!'s ``returned`` value already equals the ``sent`` one (see module doc)."""
    if field in _SET_FIELDS:
        a, b = _split(sent), _split(returned)
        if a is not None and b is not None:
            return sorted(map(_display, a), key=str) == sorted(map(_display, b), key=str)
    if sent is None:
        return returned is None or returned == "" or returned == [] or returned == {}
    if isinstance(sent, Mapping):
        if not isinstance(returned, Mapping):
            return False
        return all(k in returned and same_value(v, returned[k]) for k, v in sent.items())
    if isinstance(returned, Mapping):
        # a scalar sent, an object returned: a note, a status, a user, a linked record
        for key in _OBJECT_KEYS:
            if key in returned and returned[key] is not None:
                candidate = returned[key]
                if key == "email" and isinstance(sent, str) and isinstance(candidate, str):
                    if sent.strip().lower() == candidate.strip().lower():
                        return True
                elif not isinstance(candidate, Mapping) and _scalar_equal(sent, candidate):
                    return True
        return False
    if isinstance(sent, list | tuple):
        if not isinstance(returned, list | tuple) or len(sent) != len(returned):
            return False
        left = list(returned)
        for item in sent:
            for pos, other in enumerate(left):
                if same_value(item, other):
                    del left[pos]
                    break
            else:
                return False
        return True
    if isinstance(returned, list | tuple):
        return False
    return _scalar_equal(sent, returned)


def _display(value: Any) -> Any:
    if isinstance(value, Mapping):
        for key in _OBJECT_KEYS:
            if value.get(key) is not None and not isinstance(value[key], Mapping):
                return value[key]
    return value


def _custom_field_map(value: Any) -> dict[str, Any] | None:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            if isinstance(item, Mapping) and "key" in item:
                out[str(item["key"])] = item.get("value")
        return out
    return None


def diff_fields(sent: Mapping[str, Any], existing: Mapping[str, Any]) -> list[FieldChange]:
    """The fields of ``sent`` (an unwrapped write body) whose value ``existing`` (a record as
    Aha! returns it) does not already hold; ``[]``: nothing would change."""
    changes: list[FieldChange] = []
    for name, value in sent.items():
        if name == "custom_fields":
            wanted = _custom_field_map(value) or {}
            if "custom_fields" not in existing:
                changes.extend(
                    {"field": f"custom_fields.{k}", "before": _NOT_RETURNED, "after": v}
                    for k, v in wanted.items()
                )
                continue
            held = _custom_field_map(existing.get("custom_fields")) or {}
            for key, want in wanted.items():
                have = held.get(key)
                if not same_value(want, have, key):
                    changes.append(
                        {"field": f"custom_fields.{key}", "before": _display(have), "after": want}
                    )
            continue
        if name not in existing:
            changes.append({"field": name, "before": _NOT_RETURNED, "after": value})
            continue
        if not same_value(value, existing[name], name):
            changes.append({"field": name, "before": _display(existing[name]), "after": value})
    return changes


def diff_bodies(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[FieldChange]:
    """Field diff of two bodies we rendered (the ledger's last sent body and the new one);
    ``before=None`` (unknown): every field of ``after`` with ``before`` unknown."""
    if before is None:
        return [{"field": k, "before": None, "after": v} for k, v in after.items()]
    changes: list[FieldChange] = []
    for name, value in after.items():
        if name == "custom_fields" and isinstance(value, Mapping):
            old = _custom_field_map(before.get("custom_fields")) or {}
            changes.extend(
                {"field": f"custom_fields.{k}", "before": old.get(k), "after": v}
                for k, v in value.items()
                if _canon(old.get(k)) != _canon(v)
            )
        elif _canon(before.get(name)) != _canon(value):
            changes.append({"field": name, "before": before.get(name), "after": value})
    return changes


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def changes_text(changes: list[FieldChange], limit: int = 6) -> str:
    """``name: 'A' → 'B'; custom_fields.x: None → 1`` (values cut at 40 characters)."""

    def short(v: Any) -> str:
        text = json.dumps(v, ensure_ascii=False, default=str) if not isinstance(v, str) else v
        return text if len(text) <= 40 else text[:39] + "…"

    parts = [f"{c['field']}: {short(c['before'])} → {short(c['after'])}" for c in changes[:limit]]
    if len(changes) > limit:
        parts.append(f"… {len(changes) - limit} more")
    return "; ".join(parts)
