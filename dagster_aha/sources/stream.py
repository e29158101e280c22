"""One readable Aha! record type: :class:`AhaStream` (the registry is
:mod:`dagster_aha.sources.streams`).

A stream says where its list lives (account-wide and/or per product), which key the list
response wraps its records in, whether the list accepts ``updated_since``, its default
``fields=`` list, and, for child and per-record streams, the stream that carries or keys its
rows; :func:`resolve_fields` the ``fields=`` a read of it sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dagster_aha.client.urls import quote_segment

__all__ = ["AhaStream", "FieldsOption", "resolve_fields", "singular"]


def singular(plural: str) -> str:
    """``features`` -> ``feature``, ``custom_object_records`` -> ``custom_object_record``."""
    return plural[:-1] if plural.endswith("s") else plural


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
        incremental_param: query parameter of incremental reads (``created_since`` for audits).
        until_param: upper-bound parameter sent as "now" with every read (``created_before``
            for audits: a read sees one fixed window even while new records arrive).
        cursor_field: record timestamp the cursor follows (``created_at`` for audits;
            ``<parent>_updated_at`` for child streams).
        parent: child and per-record streams: the stream whose records carry / key the rows.
        child_key: child streams: the field of each parent record holding the rows.
        per_record_suffix: per-record streams: list path below ``<parent path>/<id>/``.
        request_cost: what one full read costs in requests (README streams table).
        audit_types: ``auditable_type`` values of Aha! audits that change this stream.
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
    incremental_param: str = "updated_since"
    until_param: str | None = None
    cursor_field: str = "updated_at"
    parent: str | None = None
    child_key: str | None = None
    per_record_suffix: str | None = None
    request_cost: str = "1 per 200 records"
    audit_types: tuple[str, ...] = ()

    @property
    def parent_singular(self) -> str:
        """``feature`` for a child of ``features`` (prefix of the parent columns of a row)."""
        return singular(self.parent or self.name)

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
        from dagster_aha.sources.streams import get_stream  # the registry imports this module

        if self.child_key is not None and self.parent is not None:
            parent = get_stream(self.parent)
            return f"{parent.path_template} (fields={self.child_key})"
        if self.per_record_suffix is not None and self.parent is not None:
            parent = get_stream(self.parent)
            return f"{parent.account_path}/{{id}}/{self.per_record_suffix}"
        parts = []
        if self.account_path is not None:
            parts.append(self.account_path)
        if self.product_suffix is not None:
            parts.append(f"products/{{product}}/{self.product_suffix}")
        return " | ".join(parts)


FieldsOption = Mapping[str, Sequence[str] | str] | Sequence[str] | str | None


def resolve_fields(stream: AhaStream, fields: FieldsOption) -> tuple[str, ...]:
    """The ``fields=`` list to send for ``stream``.

    ``fields`` is ``None`` (stream defaults), one list (or comma-separated string) for every
    stream, or a mapping from stream name to a list (streams not in the mapping keep their
    defaults). ``"*"`` asks Aha! for every field. Otherwise the stream's required keys and its
    ``cursor_field`` (``updated_at`` only for records that have one) are always added (for a
    child stream: the parent's ``id``, ``reference_num``, ``updated_at`` and the child key),
    since a ``fields`` list replaces Aha!'s default set and the cursor and checks need them. A
    stream whose endpoint takes no ``fields=`` (empty default) sends none unless asked: ``()``.
    """
    chosen: Sequence[str] | str
    if fields is None and not stream.fields:
        return ()  # the endpoint's own default shape (no fields= sent)
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
    base: tuple[str, ...]
    if stream.child_key is not None:
        base = ("id", "reference_num", "updated_at", stream.child_key)
    else:
        cursor = (stream.cursor_field,) if stream.has_updated_at else ()
        base = (*stream.required_keys, *cursor)
    out: list[str] = []
    for f in (*base, *names):
        if f not in out:
            out.append(f)
    return tuple(out)
