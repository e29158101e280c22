"""Custom field definitions: ``GET custom_field_definitions`` (not paginated, as in the spec's
example) and ``GET custom_field_definitions/:id/custom_field_options``; seeded with the custom
fields the seeded records carry (``external_id``, ``priority`` with options P1-P3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import json_response, route
from dagster_aha.testing.kinds.base import Kind

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox
    from dagster_aha.testing.state.core import SandboxState

#: (key, name, type, record type, options)
DEFINITIONS = (
    ("external_id", "External id", "CustomFieldDefinitions::TextField", "Feature", ()),
    (
        "priority",
        "Priority",
        "CustomFieldDefinitions::SelectConstant",
        "Feature",
        ("P1", "P2", "P3"),
    ),
)
LIST_KEYS = ("id", "key", "name", "type", "internal_name", "custom_fieldable_type")


def seed_custom_field_definitions(state: SandboxState) -> None:
    for key, name, type_, record_type, options in DEFINITIONS:
        state.store(
            "custom_field_definitions",
            {
                "id": state.new_id(),
                "key": key,
                "name": name,
                "type": type_,
                "internal_name": None,
                "custom_fieldable_type": record_type,
                "custom_field_options": [
                    {"id": state.new_id(), "value": v, "color": 6710886, "hidden": False}
                    for v in options
                ],
            },
        )


KIND = Kind(
    name="custom_field_definitions",
    singular="custom_field_definition",
    compact_keys=LIST_KEYS,
    ref_key="key",
)


@route("GET", "custom_field_definitions")
def _definitions(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Any:
    defs = [{k: d[k] for k in LIST_KEYS} for d in sb.state.snapshot("custom_field_definitions")]
    return json_response(200, {"custom_field_definitions": defs})


@route("GET", "custom_field_definitions/:id/custom_field_options")
def _options(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Any:
    definition = sb.state.require("custom_field_definitions", m["id"])
    return json_response(200, {"custom_field_options": definition["custom_field_options"]})
