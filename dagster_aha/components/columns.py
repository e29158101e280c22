"""Typed column schemas (``TableSchema``) of the Aha! assets, from the component's state.

A record stream's columns are the fields it asks Aha! for (typed from Aha!'s documented
record shapes) plus one column per custom field defined for its record type, named
``custom_fields__<key>`` (the name a normalizer such as dlt gives the nested value), typed from
the field's Aha! type and described by the field's name in Aha! (with its options). A custom
table's columns are its record fields plus its own custom fields; a pivot report's columns
are its column titles, described by ``table.field``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dagster import TableColumn, TableColumnConstraints, TableSchema

from dagster_aha.components.account_state import (
    AhaAccountState,
    AhaCustomFieldDefinition,
    AhaPivotReportState,
)

__all__ = [
    "STREAM_RECORD_TYPES",
    "custom_field_column_name",
    "custom_field_column_type",
    "custom_table_schema",
    "pivot_report_schema",
    "stream_schema",
]

#: Aha!'s record types (``custom_fieldable_type``) of each stream's records [Aha!: the
#: ``screenable_type`` values of the OpenAPI examples; initiatives were "strategic imperatives"].
STREAM_RECORD_TYPES: dict[str, tuple[str, ...]] = {
    "products": ("Project", "Product"),
    "releases": ("Release",),
    "features": ("Feature",),
    "epics": ("Epic", "MasterFeature"),
    "ideas": ("Ideas::Idea", "Idea"),
    "goals": ("Goal",),
    "initiatives": ("Initiative", "StrategicImperative"),
    "users": ("User",),
    "teams": ("Team",),
}

_S, _I, _N, _B, _O, _A = "string", "integer", "number", "boolean", "object", "array"
_DT, _D = "datetime", "date"

#: Type and description of the documented record fields our streams ask for.
_FIELDS: dict[str, tuple[str, str]] = {
    "id": (_S, "Aha! record id (a string of up to 19 digits)."),
    "reference_num": (_S, "Reference number, e.g. PRJ1-123."),
    "reference_prefix": (_S, "Workspace reference prefix, e.g. PRJ1."),
    "name": (_S, "Name."),
    "email": (_S, "Email address."),
    "product_id": (_S, "Id of the workspace (product) the record belongs to."),
    "product_line": (_B, "Whether the workspace is a product line."),
    "workspace_type": (_S, "product_workspace, marketing_workspace or team."),
    "parent_id": (_S, "Id of the parent workspace."),
    "created_at": (_DT, "Created at (UTC)."),
    "updated_at": (_DT, "Last updated at (UTC)."),
    "accessed_at": (_DT, "Last access (UTC)."),
    "workflow_status": (_O, "Workflow status {id, name, color, complete}."),
    "status": (_S, "Status."),
    "custom_fields": (_A, "Custom field values [{key, name, type, value}]."),
    "custom_object_links": (_A, "Links to custom table records."),
    "linked_records": (_A, "Records linking to this one."),
    "key": (_S, "Custom table key."),
    "release": (_O, "Release {id, reference_num, name}."),
    "initiative": (_O, "Initiative {id, reference_num, name}."),
    "epic": (_O, "Epic {id, reference_num, name}."),
    "feature": (_O, "Feature {id, reference_num, name}."),
    "goals": (_A, "Goals [{id, reference_num, name}]."),
    "initiatives": (_A, "Initiatives [{id, reference_num, name}]."),
    "assigned_to_user": (_O, "Assignee {id, name, email}."),
    "owner": (_O, "Owner {id, name, email}."),
    "project": (_O, "Workspace {id, reference_prefix, name}."),
    "tags": (_A, "Tags."),
    "categories": (_A, "Idea categories."),
    "votes": (_I, "Number of votes."),
    "score": (_N, "Score."),
    "start_date": (_D, "Start date."),
    "due_date": (_D, "Due date."),
    "end_date": (_D, "End date."),
    "release_date": (_D, "Release date."),
    "released_on": (_D, "Date released."),
    "released": (_B, "Whether the release has shipped."),
    "parking_lot": (_B, "Whether the release is a parking lot."),
    "master_release": (_O, "Roll-up release."),
    "success_metric": (_O, "Success metric {name, description}."),
    "parent": (_O, "Parent record."),
    "time_frame": (_O, "Time frame {id, name}."),
    "team_members_count": (_I, "Number of team members."),
    "capacity": (_S, "Weekly capacity in hours (a decimal string)."),
    "hourly_rate": (_S, "Hourly rate (a decimal string)."),
    "schedule": (_O, "Capacity schedule."),
    "team_members": (_O, "Team members."),
    "url": (_S, "Link to the record in Aha!."),
}

#: Column type by Aha! custom field type (``CustomFieldDefinitions::<Type>``), checked in order.
_CUSTOM_TYPES: tuple[tuple[str, str], ...] = (
    ("Records::UsersField", _A),
    ("UsersField", _A),
    ("Link", _A),
    ("Records", _A),
    ("SelectMultiple", _A),
    ("Tags", _A),
    ("Attachment", _A),
    ("Equation", _O),
    ("Scorecard", _O),
    ("DateField", _D),
    ("Number", _N),
    ("Integer", _I),
    ("Checkbox", _B),
    ("Boolean", _B),
    ("Select", _S),
    ("Text", _S),
    ("Note", _S),
    ("Url", _S),
    ("Email", _S),
    ("User", _O),
)

_API_TYPES = {
    "string": _S,
    "url": _S,
    "email": _S,
    "date": _D,
    "number": _N,
    "integer": _I,
    "boolean": _B,
    "array": _A,
    "scorecard": _O,
    "object": _O,
}


def custom_field_column_name(key: str) -> str:
    """``custom_fields__<key>``: the column of one custom field."""
    return f"custom_fields__{key}"


def custom_field_column_type(definition: AhaCustomFieldDefinition) -> str:
    """The column type of a custom field: from its ``api_type``, else from its Aha! type."""
    if definition.api_type and definition.api_type.lower() in _API_TYPES:
        return _API_TYPES[definition.api_type.lower()]
    short = definition.short_type
    for marker, column_type in _CUSTOM_TYPES:
        if marker in short:
            return column_type
    return _S


def _custom_column(definition: AhaCustomFieldDefinition) -> TableColumn:
    description = definition.name or definition.key
    if definition.short_type:
        description += f" (Aha! custom field {definition.key!r}, {definition.short_type})"
    other = [f"one of: {', '.join(definition.options)}"] if definition.options else []
    return TableColumn(
        name=custom_field_column_name(definition.key),
        type=custom_field_column_type(definition),
        description=description,
        constraints=TableColumnConstraints(nullable=True, other=other),
    )


def _record_columns(
    fields: Sequence[str], required: Iterable[str], custom: Iterable[AhaCustomFieldDefinition]
) -> TableSchema:
    required_set = set(required)
    columns: list[TableColumn] = []
    names: set[str] = set()
    for field in fields:
        if field == "*" or field in names:
            continue
        names.add(field)
        column_type, description = _FIELDS.get(field, ("json", f"Aha! field {field!r}."))
        columns.append(
            TableColumn(
                name=field,
                type=column_type,
                description=description,
                constraints=TableColumnConstraints(
                    nullable=field not in required_set, unique=field == "id"
                ),
            )
        )
    for definition in custom:
        name = custom_field_column_name(definition.key)
        if name in names:
            continue
        names.add(name)
        columns.append(_custom_column(definition))
    return TableSchema(columns=columns)


def stream_schema(
    state: AhaAccountState | None,
    stream_name: str,
    fields: Sequence[str],
    required_keys: Iterable[str] = ("id",),
) -> TableSchema:
    """The columns of a record stream: its fields, then one column per custom field."""
    custom = state.fields_for(STREAM_RECORD_TYPES.get(stream_name, ())) if state else []
    return _record_columns(fields, required_keys, custom)


def custom_table_schema(
    state: AhaAccountState | None, table_key: str, fields: Sequence[str]
) -> TableSchema:
    """The columns of a custom table: its record fields, then its own custom fields."""
    custom = state.table_fields(table_key) if state else []
    return _record_columns(fields, ("id",), custom)


def pivot_report_schema(report: AhaPivotReportState) -> TableSchema | None:
    """The report's columns by title (as the asset's rows are keyed), described ``table.field``."""
    if not report.columns:
        return None
    columns: list[TableColumn] = []
    seen: dict[str, int] = {}
    for column in report.columns:
        label = column.title or ".".join(p for p in (column.table, column.field) if p) or "column"
        count = seen.get(label, 0) + 1
        seen[label] = count
        name = label if count == 1 else f"{label} ({count})"
        source = ".".join(p for p in (column.table, column.field) if p)
        columns.append(TableColumn(name=name, type=_S, description=source or None))
    return TableSchema(columns=columns)
