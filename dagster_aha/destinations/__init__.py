"""dagster_aha.destinations: the write side (templates, destination model, engine, Dagster defs)."""

from dagster_aha.destinations.assets import aha_destination_asset, outcome_table_metadata
from dagster_aha.destinations.destination import (
    AhaDestination,
    AhaDestinationError,
    FromField,
    RecordError,
    RenderedRequest,
    to_json_native,
)
from dagster_aha.destinations.engine import (
    DestinationCheck,
    DestinationCheckItem,
    check_destination,
    sample_requests,
    write_records,
)
from dagster_aha.destinations.ops import (
    AhaRecordsConfig,
    AhaWriteConfig,
    build_aha_write_job,
    build_aha_write_op,
    dead_letter_records,
    report_metadata,
)
from dagster_aha.destinations.report import OUTCOME_STATUSES, WriteOutcome, WriteReport
from dagster_aha.destinations.sensors import build_aha_write_sensor
from dagster_aha.destinations.templates import TEMPLATE_NAMES, TEMPLATES, EndpointTemplate

__all__ = [
    "OUTCOME_STATUSES",
    "TEMPLATES",
    "TEMPLATE_NAMES",
    "AhaDestination",
    "AhaDestinationError",
    "AhaRecordsConfig",
    "AhaWriteConfig",
    "DestinationCheck",
    "DestinationCheckItem",
    "EndpointTemplate",
    "FromField",
    "RecordError",
    "RenderedRequest",
    "WriteOutcome",
    "WriteReport",
    "aha_destination_asset",
    "build_aha_write_job",
    "build_aha_write_op",
    "build_aha_write_sensor",
    "check_destination",
    "dead_letter_records",
    "outcome_table_metadata",
    "report_metadata",
    "sample_requests",
    "to_json_native",
    "write_records",
]
