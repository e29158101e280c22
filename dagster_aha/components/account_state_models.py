"""The models of the ``AhaComponent``'s state snapshot (pydantic, frozen, JSON round trip).

:func:`~dagster_aha.components.account_state.fetch_account_state` reads them from the account;
definitions are built from them without calling Aha!.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CUSTOM_TABLE_RECORD_TYPES",
    "STATE_VERSION",
    "AhaAccountState",
    "AhaCustomFieldDefinition",
    "AhaCustomTable",
    "AhaPivotReportColumn",
    "AhaPivotReportState",
    "AhaProductState",
]

STATE_VERSION = 1

#: ``custom_fieldable_type`` of the fields of custom table records [inferred].
CUSTOM_TABLE_RECORD_TYPES = ("CustomObjectRecord", "CustomObject")


class _StateModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AhaProductState(_StateModel):
    id: str
    reference_prefix: str | None = None
    name: str | None = None
    product_line: bool | None = None
    workspace_type: str | None = None

    @property
    def partition_key(self) -> str:
        """The product's partition key: its reference prefix (its id when it has none)."""
        return self.reference_prefix or self.id


class AhaCustomTable(_StateModel):
    """One custom table of one product."""

    key: str
    product_id: str
    product_prefix: str | None = None
    name: str | None = None
    records: int | None = None


class AhaCustomFieldDefinition(_StateModel):
    """One custom field definition (definitions are per record type, shared by workspaces)."""

    id: str | None = None
    key: str
    name: str | None = None
    type: str | None = None
    """Aha!'s type, e.g. ``CustomFieldDefinitions::DateField``."""
    api_type: str | None = None
    record_type: str | None = None
    """``custom_fieldable_type``: ``Feature``, ``Epic``, ``Ideas::Idea``, ``Project``..."""
    custom_table_key: str | None = None
    """For a field of custom table records: the table's key."""
    options: tuple[str, ...] = ()

    @property
    def short_type(self) -> str:
        """The type without its ``CustomFieldDefinitions::`` namespace (``DateField``)."""
        return (self.type or "").rsplit("::", 1)[-1]


class AhaPivotReportColumn(_StateModel):
    table: str | None = None
    field: str | None = None
    title: str | None = None


class AhaPivotReportState(_StateModel):
    report_id: str
    title: str | None = None
    columns: tuple[AhaPivotReportColumn, ...] = ()


class AhaAccountState(_StateModel):
    """The snapshot written by ``dg utils refresh-defs-state``."""

    version: int = STATE_VERSION
    account_url: str
    fetched_at: str
    products: tuple[AhaProductState, ...] = ()
    custom_tables: tuple[AhaCustomTable, ...] = ()
    custom_fields: tuple[AhaCustomFieldDefinition, ...] = ()
    pivot_reports: tuple[AhaPivotReportState, ...] = ()
    requests: int = 0
    warnings: tuple[str, ...] = Field(default=())

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, text: str) -> AhaAccountState:
        return cls.model_validate_json(text)

    def product(self, id_or_prefix: str) -> AhaProductState | None:
        for product in self.products:
            if id_or_prefix in (product.id, product.reference_prefix):
                return product
        return None

    def pivot_report(self, report_id: str) -> AhaPivotReportState | None:
        for report in self.pivot_reports:
            if report.report_id == str(report_id):
                return report
        return None

    def fields_for(self, record_types: Iterable[str]) -> list[AhaCustomFieldDefinition]:
        wanted = set(record_types)
        return [f for f in self.custom_fields if f.record_type in wanted]

    def table_fields(self, table_key: str) -> list[AhaCustomFieldDefinition]:
        return [
            f
            for f in self.custom_fields
            if f.custom_table_key == table_key
            and (f.record_type is None or f.record_type in CUSTOM_TABLE_RECORD_TYPES)
        ]
