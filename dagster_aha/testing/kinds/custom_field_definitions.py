"""Custom field definitions: ``GET custom_field_definitions`` and
``GET custom_field_definitions/:id/options``.

Not a record kind (nothing is written): the definitions are derived from the account, the
custom fields the seeded records carry (per record type, ``custom_fieldable_type``) and the
fields of every custom table (``state.custom_tables``). Shapes follow Aha!'s OpenAPI example
(``{id, key, name, type, internal_name, custom_fieldable_type}``; options ``{text, value,
meta: {color}}``). A custom table's fields carry ``custom_fieldable_type: CustomObjectRecord``
and the table's key under ``custom_object_key`` [inferred: Aha! documents no example of them].
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.http import Response, json_response, route

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox
    from dagster_aha.testing.state.core import SandboxState

#: (record type, key, name, Aha! type, options) of the custom fields seeded records carry.
SEEDED_FIELDS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("Feature", "external_id", "External id", "TextField", ()),
    ("Feature", "priority", "Priority", "SelectConstant", ("P1", "P2", "P3")),
)

#: Aha! type of a custom table field, by the sandbox's value type.
_TABLE_FIELD_TYPES = {
    "string": "TextField",
    "url": "UrlField",
    "number": "NumberField",
    "date": "DateField",
    "array": "SelectMultiple",
}


def _stable_id(*parts: str) -> str:
    digest = hashlib.sha256(":".join(("cfd", *parts)).encode()).hexdigest()
    return str(int(digest[:12], 16) % (9 * 10**11) + 10**11)


def _definition(record_type: str, key: str, name: str, type_: str) -> dict[str, Any]:
    return {
        "id": _stable_id(record_type, key),
        "key": key,
        "name": name,
        "type": f"CustomFieldDefinitions::{type_}",
        "internal_name": None,
        "custom_fieldable_type": record_type,
    }


def definitions(state: SandboxState) -> list[dict[str, Any]]:
    """Every custom field definition of the account, with its options (private key)."""
    out: list[dict[str, Any]] = []
    for record_type, key, name, type_, options in SEEDED_FIELDS:
        d = _definition(record_type, key, name, type_)
        d["_options"] = list(options)
        out.append(d)
    with state.lock:
        tables = list(state.custom_tables.values())
    for table in tables:
        for fkey, fname, ftype in table["fields"]:
            d = _definition("CustomObjectRecord", f"{table['key']}.{fkey}", fname, "")
            d.update(
                key=fkey,
                type=f"CustomFieldDefinitions::{_TABLE_FIELD_TYPES.get(ftype, 'TextField')}",
                custom_object_key=table["key"],
                _options=[],
            )
            out.append(d)
    return out


def _public(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not k.startswith("_")}


@route("GET", "custom_field_definitions")
def _list(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
    return json_response(
        200, {"custom_field_definitions": [_public(d) for d in definitions(sb.state)]}
    )


@route("GET", "custom_field_definitions/:id/options")
def _options(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
    for d in definitions(sb.state):
        if d["id"] == m["id"]:
            return json_response(
                200,
                {
                    "options": [
                        {
                            "text": text,
                            "value": _stable_id(d["id"], text),
                            "meta": {"color": "#666666"},
                        }
                        for text in d["_options"]
                    ]
                },
            )
    raise SandboxError(404, "Record not found")
