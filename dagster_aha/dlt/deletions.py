"""Aha!'s recycle bin (``GET /api/v1/deletions``), read tolerantly.

Aha!'s document shows one deletion item only, in the restore response: ``{"id", "deleted_at",
"status", "record": {"name", "type", "reference_num"}, "deleted_by"}``; the list example is
empty. So each item is searched for the deleted record's id and type under the plausible keys
(``record.id``, ``record_id``, ``deletable_id``, ``item_id``... and ``record.type``,
``record_type``, ``deletable_type``...), its reference (``reference_num``) is kept as a second
way to find the row, and an item that yields neither an id nor a reference is counted and
logged, never an error. The item's own ``id`` is the deletion's id, not the record's, and is
only used when the item names no record object at all and carries a ``*_type``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dagster_aha.sources.timestamps import parse_ts

__all__ = ["DeletedRecord", "RecycleBin", "parse_deletions", "stream_for_type"]

logger = logging.getLogger("dagster_aha.dlt")

_ID_KEYS = ("record_id", "deletable_id", "deleted_record_id", "item_id", "resource_id", "object_id")
_TYPE_KEYS = ("record_type", "deletable_type", "item_type", "resource_type", "object_type", "type")
_REF_KEYS = ("reference_num", "reference", "reference_prefix", "ref")
_RECORD_KEYS = ("record", "deletable", "item", "resource", "object", "deleted_record")
_TIME_KEYS = ("deleted_at", "created_at", "updated_at")

#: normalised Aha! model names -> stream (table) names
_TYPE_STREAMS: dict[str, str] = {
    "feature": "features",
    "epic": "epics",
    "release": "releases",
    "idea": "ideas",
    "ideaportal": "ideas",
    "goal": "goals",
    "initiative": "initiatives",
    "strategicimperative": "initiatives",
    "project": "products",
    "product": "products",
    "productline": "products",
    "workspace": "products",
    "user": "users",
    "team": "teams",
    "customobjectrecord": "custom_object_records",
    "customtablerecord": "custom_object_records",
}


@dataclass(frozen=True)
class DeletedRecord:
    """One readable recycle-bin item: the deleted record's id and/or reference, and its type."""

    record_id: str | None
    reference: str | None
    stream: str | None  # None: the type is unknown, the id may belong to any table
    deleted_at: datetime | None


@dataclass
class RecycleBin:
    """The parsed bin: readable items, and how many could not be read."""

    items: list[DeletedRecord] = field(default_factory=list)
    unreadable: int = 0

    def for_stream(self, stream: str) -> list[DeletedRecord]:
        return [d for d in self.items if d.stream is None or d.stream == stream]


def stream_for_type(value: Any) -> str | None:
    """``"Feature"`` / ``"features"`` / ``"Aha::Feature"`` -> ``"features"`` (None: unknown)."""
    if not isinstance(value, str) or not value.strip():
        return None
    name = re.sub(r"[^a-z]", "", value.rsplit("::", 1)[-1].lower())
    if name in _TYPE_STREAMS:
        return _TYPE_STREAMS[name]
    if name.endswith("s") and name[:-1] in _TYPE_STREAMS:
        return _TYPE_STREAMS[name[:-1]]
    return None


def _scalar_id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _first(mapping: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if key in mapping and mapping[key] not in (None, ""):
            return mapping[key]
    return None


def _parse_item(item: Any) -> DeletedRecord | None:
    if not isinstance(item, Mapping):
        return None
    record = _first(item, _RECORD_KEYS)
    nested = record if isinstance(record, Mapping) else {}
    record_id = _scalar_id(_first(nested, ("id", *_ID_KEYS))) or _scalar_id(_first(item, _ID_KEYS))
    type_value = _first(nested, _TYPE_KEYS) or _first(item, _TYPE_KEYS)
    if record_id is None and not nested and _first(item, _TYPE_KEYS[:-1]) is not None:
        record_id = _scalar_id(item.get("id"))  # a flat item: {"id", "record_type", ...}
    reference = _first(nested, _REF_KEYS) or _first(item, _REF_KEYS)
    reference = reference.strip() if isinstance(reference, str) and reference.strip() else None
    if record_id is None and reference is None:
        return None
    return DeletedRecord(
        record_id=record_id,
        reference=reference,
        stream=stream_for_type(type_value),
        deleted_at=parse_ts(_first(item, _TIME_KEYS)),
    )


def parse_deletions(items: Iterable[Any]) -> RecycleBin:
    """Parse recycle-bin items; the unreadable ones are counted and logged, never raised."""
    bin_ = RecycleBin()
    for item in items:
        status = item.get("status") if isinstance(item, Mapping) else None
        if isinstance(status, str) and "restor" in status.lower():
            continue  # being restored: the record comes back
        parsed = _parse_item(item)
        if parsed is None:
            bin_.unreadable += 1
            continue
        bin_.items.append(parsed)
    if bin_.unreadable:
        logger.warning(
            "Aha! recycle bin: %d item(s) name no record id or reference and were skipped",
            bin_.unreadable,
        )
    return bin_
