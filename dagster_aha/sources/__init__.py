"""dagster_aha.sources: the read side (record assets, custom tables, pivot reports, checks, the
change sensor)."""

from dagster_aha.sources.assets import (
    AHA_PRODUCTS_PARTITIONS_NAME,
    AhaReadConfig,
    aha_custom_table_asset,
    build_aha_assets,
    build_aha_product_partitions_sensor,
)
from dagster_aha.sources.change_sensor import build_aha_change_sensor
from dagster_aha.sources.checks import IDS_UNIQUE, REQUIRED_KEYS_PRESENT
from dagster_aha.sources.metadata import AhaMetadataSet, infer_column_schema, markdown_preview
from dagster_aha.sources.pivot import aha_pivot_report_asset
from dagster_aha.sources.streams import DEFAULT_STREAMS, STREAMS, AhaStream
from dagster_aha.sources.translator import AhaAssetProps, DagsterAhaTranslator

__all__ = [
    "AHA_PRODUCTS_PARTITIONS_NAME",
    "DEFAULT_STREAMS",
    "IDS_UNIQUE",
    "REQUIRED_KEYS_PRESENT",
    "STREAMS",
    "AhaAssetProps",
    "AhaMetadataSet",
    "AhaReadConfig",
    "AhaStream",
    "DagsterAhaTranslator",
    "aha_custom_table_asset",
    "aha_pivot_report_asset",
    "build_aha_assets",
    "build_aha_change_sensor",
    "build_aha_product_partitions_sensor",
    "infer_column_schema",
    "markdown_preview",
]
