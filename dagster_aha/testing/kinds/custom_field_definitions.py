"""Custom field definitions: ``GET custom_field_definitions`` (not paginated, as in the spec's
example) and ``GET custom_field_definitions/:id/options``.

Not a record kind (nothing is written): the definitions are those of the custom fields the
seeded records carry. Shapes follow Aha!'s OpenAPI example (``{id, key, name, type,
internal_name, custom_fieldable_type}``; options ``{text, value, meta: {color}}``).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.http import Response, json_response, route

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox

#: (record type, key, name, Aha! type, options) of the custom fields seeded records carry.
SEEDED_FIELDS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("Feature", "external_id", "External id", "TextField", ()),
    ("Feature", "priority", "Priority", "SelectConstant", ("P1", "P2", "P3")),
)


def _stable_id(*parts: str) -> str:
    digest = hashlib.sha256(":".join(("cfd", *parts)).encode()).hexdigest()
    return str(int(digest[:12], 16) % (9 * 10**11) + 10**11)


def definitions() -> list[dict[str, Any]]:
    """Every custom field definition of the account, with its options (private key)."""
    return [
        {
            "id": _stable_id(record_type, key),
            "key": key,
            "name": name,
            "type": f"CustomFieldDefinitions::{type_}",
            "internal_name": None,
            "custom_fieldable_type": record_type,
            "_options": list(options),
        }
        for record_type, key, name, type_, options in SEEDED_FIELDS
    ]


def _public(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not k.startswith("_")}


@route("GET", "custom_field_definitions")
def _list(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
    return json_response(200, {"custom_field_definitions": [_public(d) for d in definitions()]})


@route("GET", "custom_field_definitions/:id/options")
def _options(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
    for d in definitions():
        if d["id"] == m["id"]:
            options = [
                {"text": text, "value": _stable_id(d["id"], text), "meta": {"color": "#666666"}}
                for text in d["_options"]
            ]
            return json_response(200, {"options": options})
    raise SandboxError(404, "Record not found")
