"""Registry of the Aha! record streams the read side knows how to list.

Each stream says where its list lives (account-wide and/or per product), which key the list
response wraps its records in, whether the list accepts ``updated_since`` (incremental reads),
and the default ``fields=`` list. Aha! list items are thin by default (a feature list item has
no ``updated_at`` and no ``custom_fields``), so every stream asks for the fields an analyst needs,
including parents, in the list request itself.

Three stream shapes go beyond one list (see :mod:`dagster_aha.sources.reading`):

* child streams (``parent`` + ``child_key``): rows nested in the parent's list records, read
  through ``fields=<child_key>`` on the parent list (requirements, workflow status times): no
  extra request per parent;
* per-record streams (``per_record_suffix``): one request per parent record (record links).
  They are never in ``DEFAULT_STREAMS`` and their ``request_cost`` says so;
* the audit feed, incremental by ``created_at`` through ``created_since``.

``audit_types`` maps the ``auditable_type`` (or ``associated_type``) of an Aha! audit to the
streams it changes (used by the change sensor).

Every ``fields=`` name is a key of the record as Aha!'s OpenAPI document shows it (a name no
documented record has is at best ignored by Aha! and answered 400 by the sandbox): products
carry their hierarchy as ``children`` (there is no ``parent_id``), an idea's promotion is its
``feature``, initiatives have no ``parent``, and teams have no ``created_at``/``updated_at``
(so the teams stream is a full refresh).

Facts: reference/aha-api.md §2.2, §3.2 and §10; Aha!'s OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster_aha.client.urls import quote_segment
from dagster_aha.sources.stream import AhaStream, FieldsOption, resolve_fields, singular

__all__ = [
    "DEFAULT_STREAMS",
    "STREAMS",
    "AhaStream",
    "FieldsOption",
    "custom_table_stream",
    "get_stream",
    "resolve_fields",
    "streams_for_audit_type",
]

_COMMON = ("id", "reference_num", "name", "product_id", "created_at", "updated_at")
#: What features and epics (the planned work items) share beyond ``_COMMON``.
_WORK_ITEM = (
    "workflow_status",
    "custom_fields",
    "release",
    "initiative",
    "goals",
    "assigned_to_user",
    "tags",
    "score",
    "start_date",
    "due_date",
    "url",
)


STREAMS: Mapping[str, AhaStream] = {
    s.name: s
    for s in (
        AhaStream(
            name="products",
            record_key="products",
            account_path="products",
            product_suffix=None,
            supports_updated_since=True,
            fields=(
                "id",
                "reference_prefix",
                "name",
                "product_line",
                "workspace_type",
                "children",
                "created_at",
                "updated_at",
                "custom_fields",
                "url",
            ),
            required_keys=("id", "reference_prefix"),
            description="Aha! workspaces (products and product lines), one row per workspace.",
            audit_types=("Project", "Product"),
        ),
        AhaStream(
            name="releases",
            record_key="releases",
            account_path=None,
            product_suffix="releases",
            supports_updated_since=True,
            fields=(
                *_COMMON,
                "start_date",
                "release_date",
                "released",
                "released_on",
                "parking_lot",
                "master_release",
                "workflow_status",
                "custom_fields",
                "owner",
                "project",
                "url",
            ),
            required_keys=("id", "reference_num"),
            description="Aha! releases, read product by product (there is no account-wide list).",
            request_cost="1 per 200 releases per product, + the products listing",
            audit_types=("Release",),
        ),
        AhaStream(
            name="features",
            record_key="features",
            account_path="features",
            product_suffix="features",
            supports_updated_since=True,
            fields=(*_COMMON, *_WORK_ITEM, "epic"),
            required_keys=("id", "reference_num"),
            description="Aha! features with workflow status, custom fields and parents.",
            audit_types=("Feature",),
        ),
        AhaStream(
            name="epics",
            record_key="epics",
            account_path="epics",
            product_suffix="epics",
            supports_updated_since=True,
            fields=(*_COMMON, *_WORK_ITEM),
            required_keys=("id", "reference_num"),
            description="Aha! epics with workflow status, custom fields and parents.",
            audit_types=("Epic", "MasterFeature"),
        ),
        AhaStream(
            name="ideas",
            record_key="ideas",
            account_path="ideas",
            product_suffix="ideas",
            supports_updated_since=True,
            fields=(
                *_COMMON,
                "workflow_status",
                "custom_fields",
                "votes",
                "categories",
                "tags",
                "feature",
                "url",
            ),
            required_keys=("id", "reference_num"),
            description="Aha! ideas with votes, workflow status, custom fields and promotions.",
            audit_types=("Idea",),
        ),
        AhaStream(
            name="goals",
            record_key="goals",
            account_path="goals",
            product_suffix="goals",
            supports_updated_since=False,
            fields=(
                *_COMMON,
                "success_metric",
                "custom_fields",
                "parent",
                "time_frame",
                "initiatives",
                "url",
            ),
            required_keys=("id", "reference_num"),
            description="Aha! goals (full refresh: the list has no updated_since filter).",
            audit_types=("Goal",),
        ),
        AhaStream(
            name="initiatives",
            record_key="initiatives",
            account_path="initiatives",
            product_suffix="initiatives",
            supports_updated_since=True,
            fields=(
                *_COMMON,
                "workflow_status",
                "status",
                "custom_fields",
                "goals",
                "start_date",
                "end_date",
                "url",
            ),
            required_keys=("id", "reference_num"),
            description="Aha! initiatives with workflow status, custom fields and goals.",
            audit_types=("Initiative",),
        ),
        AhaStream(
            name="users",
            record_key="users",
            account_path="users",
            product_suffix=None,
            supports_updated_since=False,
            fields=("id", "name", "email", "created_at", "updated_at", "accessed_at"),
            required_keys=("id",),
            description="Aha! users of the account (full refresh).",
            audit_types=("User",),
        ),
        AhaStream(
            name="teams",
            record_key="teams",
            account_path="teams",
            product_suffix="teams",
            supports_updated_since=False,
            fields=(
                "id",
                "name",
                "team_members_count",
                "capacity",
                "hourly_rate",
                "start_date",
                "end_date",
                "project",
                "schedule",
                "team_members",
                "custom_fields",
            ),
            required_keys=("id",),
            description="Aha! capacity-planning teams (full refresh; not in the default streams).",
            has_updated_at=False,
            audit_types=("Team",),
        ),
        AhaStream(
            name="audits",
            record_key="audits",
            account_path="audits",
            product_suffix=None,
            supports_updated_since=True,
            fields=(),
            required_keys=("id", "auditable_type", "created_at"),
            description=(
                "Aha! audit feed (last 12 months): one row per create, update or destroy of a "
                "record or of a value attached to it, with auditable_type, auditable_id, "
                "audit_action, changed_fields, changes and the user."
            ),
            incremental_param="created_since",
            until_param="created_before",
            cursor_field="created_at",
            request_cost="1 per 200 audits (created_since bounds the scan)",
        ),
        AhaStream(
            name="tasks",
            record_key="tasks",
            account_path="tasks",
            product_suffix="tasks",
            supports_updated_since=True,
            fields=(
                "id",
                "name",
                "body",
                "status",
                "due_date",
                "position",
                "assigned_to_users",
                "created_by_user",
                "created_at",
                "updated_at",
                "url",
            ),
            required_keys=("id",),
            description="Aha! to-dos with status, due date and assignees.",
            audit_types=("Task",),
        ),
        AhaStream(
            name="comments",
            record_key="comments",
            account_path=None,
            product_suffix="comments",
            supports_updated_since=False,
            fields=(
                "id",
                "body",
                "user",
                "commentable_id",
                "commentable_type",
                "attachments",
                "reactions",
                "created_at",
                "updated_at",
                "url",
            ),
            required_keys=("id",),
            description="Aha! comments of every record of a product (full refresh).",
            request_cost="1 per 200 comments per product, + the products listing",
            audit_types=("Comment",),
        ),
        AhaStream(
            name="requirements",
            record_key="features",
            account_path="features",
            product_suffix="features",
            supports_updated_since=False,
            fields=("id", "reference_num", "product_id", "updated_at", "requirements"),
            required_keys=("id", "feature_id"),
            description=(
                "Aha! requirements, read through fields=requirements on the features list "
                "(full refresh: a requirement edit need not touch its feature's updated_at)."
            ),
            cursor_field="feature_updated_at",
            parent="features",
            child_key="requirements",
            request_cost="1 per 200 features (no request per feature)",
            audit_types=("Requirement",),
        ),
        AhaStream(
            name="idea_endorsements",
            record_key="idea_endorsements",
            account_path="ideas/endorsements",
            product_suffix=None,
            supports_updated_since=False,
            fields=(),
            required_keys=("id", "idea_id"),
            description="Aha! idea votes (endorsements) of the account, with voter and "
            "organization.",
            audit_types=("IdeaEndorsement", "Endorsement"),
        ),
        AhaStream(
            name="idea_categories",
            record_key="idea_categories",
            account_path=None,
            product_suffix="idea_categories",
            supports_updated_since=False,
            fields=(),
            required_keys=("id",),
            description="Aha! idea categories of each product (full refresh).",
            request_cost="1 per product, + the products listing",
            audit_types=("IdeaCategory",),
        ),
        AhaStream(
            name="release_phases",
            record_key="release_phases",
            account_path="release_phases",
            product_suffix=None,
            supports_updated_since=False,
            fields=(),
            required_keys=("id", "release_id"),
            description="Aha! release phases and milestones of the account (full refresh).",
            audit_types=("ReleasePhase",),
        ),
        AhaStream(
            name="record_links",
            record_key="record_links",
            account_path="features",
            product_suffix="features",
            supports_updated_since=False,
            fields=(),
            required_keys=("id", "feature_id"),
            description=(
                "Aha! record links of each feature (one request per feature: not in the "
                "default streams)."
            ),
            cursor_field="feature_updated_at",
            parent="features",
            per_record_suffix="record_links",
            request_cost="1 per feature, + 1 per 200 features (the features list)",
            audit_types=("RecordLink",),
        ),
        AhaStream(
            name="custom_field_definitions",
            record_key="custom_field_definitions",
            account_path="custom_field_definitions",
            product_suffix=None,
            supports_updated_since=False,
            fields=(),
            required_keys=("id", "key", "type"),
            description=(
                "Aha! custom field definitions (dimension table): key, name, type, record type "
                "and, for choice lists and tags, the options."
            ),
            request_cost="1, + 1 per choice-list or tags definition (its options)",
            audit_types=("CustomFieldDefinition", "CustomFieldOption"),
        ),
        AhaStream(
            name="workflows",
            record_key="workflows",
            account_path=None,
            product_suffix="workflows",
            supports_updated_since=False,
            fields=(),
            required_keys=("id", "name"),
            description="Aha! workflows of each product with their statuses (full refresh).",
            request_cost="1 per product, + the products listing",
            audit_types=("Workflow", "WorkflowStatus"),
        ),
        *(
            AhaStream(
                name=f"{parent}__workflow_status_times",
                record_key=parent,
                account_path=parent,
                product_suffix=parent,
                supports_updated_since=True,
                fields=("id", "reference_num", "product_id", "updated_at", "workflow_status_times"),
                required_keys=("id", f"{singular(parent)}_id"),
                description=(
                    f"Workflow status history of Aha! {parent} (child table: one row per status "
                    f"interval), read through fields=workflow_status_times on the {parent} list."
                ),
                cursor_field=f"{singular(parent)}_updated_at",
                parent=parent,
                child_key="workflow_status_times",
                request_cost=f"1 per 200 {parent} (no request per record)",
                audit_types=audit_types,
            )
            for parent, audit_types in (
                ("features", ("Feature",)),
                ("epics", ("Epic", "MasterFeature")),
                ("ideas", ("Idea",)),
            )
        ),
    )
}

DEFAULT_STREAMS: tuple[str, ...] = (
    "products",
    "releases",
    "features",
    "epics",
    "ideas",
    "goals",
    "initiatives",
    "users",
)


def get_stream(name: str) -> AhaStream:
    """Look a stream up by name; ``ValueError`` lists the known names."""
    try:
        return STREAMS[name]
    except KeyError:
        raise ValueError(
            f"Unknown Aha! stream {name!r}; known streams: {', '.join(sorted(STREAMS))}"
        ) from None


def custom_table_stream(product_id: str, table_key: str, *, name: str) -> AhaStream:
    """A stream over the records of one custom table of one product."""
    path = f"products/{quote_segment(product_id)}/custom_objects/{quote_segment(table_key)}/records"
    return AhaStream(
        name=name,
        record_key="custom_object_records",
        account_path=path,
        product_suffix=None,
        supports_updated_since=True,
        fields=(
            "id",
            "product_id",
            "key",
            "created_at",
            "updated_at",
            "custom_fields",
            "custom_object_links",
            "linked_records",
        ),
        required_keys=("id",),
        description=f"Records of the Aha! custom table {table_key!r} of product {product_id!r}.",
    )


def streams_for_audit_type(auditable_type: str) -> tuple[str, ...]:
    """Names of the streams an audit of ``auditable_type`` (``"Feature"``) changes."""
    wanted = auditable_type.strip().lower()
    return tuple(
        s.name for s in STREAMS.values() if any(t.lower() == wanted for t in s.audit_types)
    )
