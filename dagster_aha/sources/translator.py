"""Translator from Aha! asset properties to Dagster ``AssetSpec``s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dagster import AssetKey, AssetSpec

from dagster_aha.sources.metadata import AhaMetadataSet

__all__ = ["AhaAssetKind", "AhaAssetProps", "DagsterAhaTranslator"]

AhaAssetKind = Literal["records", "custom_table", "pivot_report"]


@dataclass(frozen=True)
class AhaAssetProps:
    """Everything known about an Aha! asset at definition time (no API call needed).

    Attributes:
        name: stream name (``"features"``), custom table asset name or pivot report name.
        kind: ``"records"``, ``"custom_table"`` or ``"pivot_report"``.
        key_prefix: asset key prefix (``("aha",)``).
        group_name: asset group.
        description: default description.
        record_key: key of the list in the response (records and custom tables).
        list_path: list path(s) read, e.g. ``"features | products/{product}/features"``.
        fields: ``fields=`` list sent with each list request.
        incremental: whether the asset reads deltas with ``updated_since``.
        partitioned_by: ``"product"`` when partitioned by product, else ``None``.
        product_id: product of a custom table.
        table_key: key of a custom table.
        report_id: id of a custom pivot report.
        view: pivot report view, ``"list"`` or ``"pivot"``.
        value: pivot report cell value kind (``"plain"``...).
    """

    name: str
    kind: AhaAssetKind
    key_prefix: tuple[str, ...] = ("aha",)
    group_name: str | None = "aha"
    description: str | None = None
    record_key: str | None = None
    list_path: str | None = None
    fields: tuple[str, ...] = ()
    incremental: bool = False
    partitioned_by: str | None = None
    product_id: str | None = None
    table_key: str | None = None
    report_id: str | None = None
    view: str | None = None
    value: str | None = None


class DagsterAhaTranslator:
    """Builds the ``AssetSpec`` of each Aha! asset.

    Subclass it and override ``get_asset_spec`` to rename keys, groups, owners or tags::

        class MyTranslator(DagsterAhaTranslator):
            def get_asset_spec(self, props: AhaAssetProps) -> AssetSpec:
                spec = super().get_asset_spec(props)
                return spec.replace_attributes(key=AssetKey(["raw", "aha", props.name]))

    Specs must not set ``deps`` or ``partitions_def``: partitioning is chosen by the factory.
    """

    def get_asset_spec(self, props: AhaAssetProps) -> AssetSpec:
        metadata = AhaMetadataSet(
            stream=props.name if props.kind == "records" else None,
            record_key=props.record_key,
            list_path=props.list_path,
            fields=",".join(props.fields) if props.fields else None,
            incremental=props.incremental if props.kind != "pivot_report" else None,
            partitioned_by=props.partitioned_by,
            product_id=props.product_id,
            table_key=props.table_key,
            report_id=props.report_id,
            view=props.view,
            value=props.value,
        )
        return AssetSpec(
            key=AssetKey([*props.key_prefix, props.name]),
            description=props.description,
            group_name=props.group_name,
            kinds={"aha"},
            metadata=dict(metadata),
        )
