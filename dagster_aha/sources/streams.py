"""Registry of the Aha! record streams the read side knows how to list.

Each stream says where its list lives (account-wide and/or per product), which key the list
response wraps its records in, whether the list accepts ``updated_since`` (incremental reads),
and the default ``fields=`` list. Aha! list items are thin by default (a feature list item has
no ``updated_at`` and no ``custom_fields``), so every stream asks for the fields an analyst needs,
including parents, in the list request itself: no per-record detail requests are ever made.

Every ``fields=`` name is a key of the record as Aha!'s OpenAPI document shows it (a name no
documented record has is at best ignored by Aha! and answered 400 by the sandbox): products
carry their hierarchy as ``children`` (there is no ``parent_id``), an idea's promotion is its
``feature``, initiatives have no ``parent``, and teams have no ``created_at``/``updated_at``
(so the teams stream is a full refresh).

Facts: reference/aha-api.md §2.2, §3.2 and §10; Aha!'s OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dagster_aha.client.urls import quote_segment

__all__ = [
    "DEFAULT_STREAMS",
    "STREAMS",
    "AhaStream",
    "custom_table_stream",
    "get_stream",
    "resolve_fields",
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


@dataclass(frozen=True)
class AhaStream:
    """One readable Aha! record type.

    Attributes:
        name: stream name, also the default last segment of the asset key.
        record_key: key of the record list in the list response (``"features"``).
        account_path: account-wide list path below ``/api/v1/`` or ``None`` when Aha! has no
            account-wide list (releases are listed per product).
        product_suffix: list path below ``products/<id>/`` or ``None`` when the type is not
            product-scoped (users).
        supports_updated_since: the list accepts ``updated_since`` (incremental reads).
        fields: default ``fields=`` list.
        required_keys: keys every record of this type must carry (asset check).
        description: human description used in the asset spec.
        has_updated_at: the records carry ``updated_at`` (teams do not), so ``fields=`` lists
            always ask for it.
    """

    name: str
    record_key: str
    account_path: str | None
    product_suffix: str | None
    supports_updated_since: bool
    fields: tuple[str, ...]
    required_keys: tuple[str, ...]
    description: str
    has_updated_at: bool = True

    @property
    def per_product_only(self) -> bool:
        """True when the stream can only be listed product by product (releases)."""
        return self.account_path is None and self.product_suffix is not None

    def product_path(self, product: str) -> str:
        """The list path of this stream for one product (id or reference prefix)."""
        if self.product_suffix is None:
            raise ValueError(f"Aha! stream {self.name!r} cannot be listed per product")
        return f"products/{quote_segment(product)}/{self.product_suffix}"

    @property
    def path_template(self) -> str:
        """Human-readable list path(s), for asset metadata."""
        parts = []
        if self.account_path is not None:
            parts.append(self.account_path)
        if self.product_suffix is not None:
            parts.append(f"products/{{product}}/{self.product_suffix}")
        return " | ".join(parts)


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


FieldsOption = Mapping[str, Sequence[str] | str] | Sequence[str] | str | None


def resolve_fields(stream: AhaStream, fields: FieldsOption) -> tuple[str, ...]:
    """The ``fields=`` list to send for ``stream``.

    ``fields`` is ``None`` (stream defaults), one list (or comma-separated string) for every
    stream, or a mapping from stream name to a list (streams not in the mapping keep their
    defaults). ``"*"`` asks Aha! for every field. Otherwise ``id``, ``updated_at`` (for records
    that have one) and the stream's required keys are always added, since a ``fields`` list
    replaces Aha!'s default set and the cursor and checks need them.
    """
    chosen: Sequence[str] | str
    if fields is None:
        chosen = stream.fields
    elif isinstance(fields, Mapping):
        chosen = fields.get(stream.name, stream.fields)
    else:
        chosen = fields
    if isinstance(chosen, str):
        chosen = [part.strip() for part in chosen.split(",")]
    names = [f for f in chosen if f]
    if not names:
        raise ValueError(f"Empty fields list for Aha! stream {stream.name!r}")
    if "*" in names:
        return ("*",)
    out: list[str] = []
    always = ("updated_at",) if stream.has_updated_at else ()
    for f in (*stream.required_keys, *always, *names):
        if f not in out:
            out.append(f)
    return tuple(out)
