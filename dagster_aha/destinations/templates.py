"""The 11 Aha! destination endpoint templates, as data.

Each template mirrors one Nexla "endpoint template" (see the Aha! destination seed) and one
documented Aha! v1 write endpoint (``aha-api.md`` §3.1). Paths are relative to ``/api/v1/`` and use
``{param}`` placeholders; every placeholder value is URL-encoded with
:func:`dagster_aha.client.urls.quote_segment` when a request is rendered.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

WriteKind = Literal["create", "update", "delete"]
HttpMethod = Literal["POST", "PUT", "DELETE"]
#: The template names, as a type (pydantic and the component schema validate against it).
TemplateName = Literal[
    "create_feature",
    "create_epic",
    "create_epic_in_default_release",
    "update_epic",
    "delete_epic",
    "create_goal",
    "update_goal",
    "create_initiative",
    "update_initiative",
    "create_custom_table_record",
    "create_team",
]

__all__ = [
    "TEMPLATES",
    "TEMPLATE_NAMES",
    "EndpointTemplate",
    "HttpMethod",
    "TemplateName",
    "WriteKind",
    "path_placeholders",
]


@dataclass(frozen=True)
class EndpointTemplate:
    """One documented Aha! write endpoint.

    Attributes:
        name: template name (``create_feature`` ...).
        method: HTTP method.
        path: path template relative to ``/api/v1/`` with ``{param}`` placeholders.
        wrap_key: the singular key the body is wrapped under (``{"feature": {...}}``).
        kind: create, update or delete; decides the outcome status and the validation rules.
        name_required: a create that needs ``name`` in the body.
        list_key: plural key of the list response for the create scope (upsert look-ups).
        update_path: path template of the PUT that updates an existing record of this kind;
            ``{id}`` is the record id, the other placeholders come from the template's params.
        description: one line for docs and the UI.
    """

    name: str
    method: HttpMethod
    path: str
    wrap_key: str
    kind: WriteKind
    name_required: bool
    list_key: str
    update_path: str | None
    description: str

    @property
    def path_params(self) -> tuple[str, ...]:
        return path_placeholders(self.path)


def path_placeholders(path: str) -> tuple[str, ...]:
    """The ``{name}`` placeholders of a path template, in order (duplicates removed)."""
    names: list[str] = []
    for _literal, field_name, format_spec, conversion in string.Formatter().parse(path):
        if field_name is None:
            continue
        if not field_name.isidentifier() or format_spec or conversion:
            raise ValueError(
                f"invalid placeholder {{{field_name}}} in path template {path!r}: "
                "use plain {name} placeholders"
            )
        if field_name not in names:
            names.append(field_name)
    return tuple(names)


_TEMPLATE_LIST: tuple[EndpointTemplate, ...] = (
    EndpointTemplate(
        name="create_feature",
        method="POST",
        path="releases/{release_id}/features",
        wrap_key="feature",
        kind="create",
        name_required=True,
        list_key="features",
        update_path="features/{id}",
        description="Create a feature in a release.",
    ),
    EndpointTemplate(
        name="create_epic",
        method="POST",
        path="releases/{release_id}/epics",
        wrap_key="epic",
        kind="create",
        name_required=True,
        list_key="epics",
        update_path="epics/{id}",
        description="Create an epic in a release.",
    ),
    EndpointTemplate(
        name="create_epic_in_default_release",
        method="POST",
        path="products/{product_id}/epics",
        wrap_key="epic",
        kind="create",
        name_required=True,
        list_key="epics",
        update_path="epics/{id}",
        description="Create an epic in the default release of a product.",
    ),
    EndpointTemplate(
        name="update_epic",
        method="PUT",
        path="epics/{epic_id}",
        wrap_key="epic",
        kind="update",
        name_required=False,
        list_key="epics",
        update_path=None,
        description="Update an existing epic (partial body).",
    ),
    EndpointTemplate(
        name="delete_epic",
        method="DELETE",
        path="epics/{epic_id}",
        wrap_key="epic",
        kind="delete",
        name_required=False,
        list_key="epics",
        update_path=None,
        description="Delete an epic (permanent; requires allow_delete=True).",
    ),
    EndpointTemplate(
        name="create_goal",
        method="POST",
        path="products/{product_id}/goals",
        wrap_key="goal",
        kind="create",
        name_required=True,
        list_key="goals",
        update_path="products/{product_id}/goals/{id}",
        description="Create a goal in a product.",
    ),
    EndpointTemplate(
        name="update_goal",
        method="PUT",
        path="products/{product_id}/goals/{goal_id}",
        wrap_key="goal",
        kind="update",
        name_required=False,
        list_key="goals",
        update_path=None,
        description="Update an existing goal of a product (partial body).",
    ),
    EndpointTemplate(
        name="create_initiative",
        method="POST",
        path="products/{product_id}/initiatives",
        wrap_key="initiative",
        kind="create",
        name_required=True,
        list_key="initiatives",
        update_path="products/{product_id}/initiatives/{id}",
        description="Create an initiative in a product.",
    ),
    EndpointTemplate(
        name="update_initiative",
        method="PUT",
        path="products/{product_id}/initiatives/{initiative_id}",
        wrap_key="initiative",
        kind="update",
        name_required=False,
        list_key="initiatives",
        update_path=None,
        description="Update an existing initiative of a product (partial body).",
    ),
    EndpointTemplate(
        name="create_custom_table_record",
        method="POST",
        path="products/{product_id}/custom_objects/{custom_table_key}/records",
        wrap_key="custom_object_record",
        kind="create",
        name_required=False,
        list_key="custom_object_records",
        update_path="custom_object_records/{id}",
        description="Create a record in a product's custom table.",
    ),
    EndpointTemplate(
        name="create_team",
        method="POST",
        path="teams",
        wrap_key="team",
        kind="create",
        name_required=True,
        list_key="teams",
        update_path="teams/{id}",
        description="Create an account-level team.",
    ),
)

TEMPLATES: dict[str, EndpointTemplate] = {t.name: t for t in _TEMPLATE_LIST}
TEMPLATE_NAMES: tuple[str, ...] = tuple(TEMPLATES)
