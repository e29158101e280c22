"""dagster_aha.destinations: the write side (templates, destination model, engine, Dagster defs)."""

from dagster_aha.destinations.assets import (
    DEAD_LETTER_CHECK,
    aha_destination_asset,
    outcome_table_metadata,
)
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
    destination_identity,
    sample_requests,
    write_records,
)
from dagster_aha.destinations.ledger import (
    LEDGER_STATES,
    LEDGER_URL_ENV,
    Claim,
    LedgerEntry,
    WriteLedger,
)
from dagster_aha.destinations.ops import (
    AhaRecordsConfig,
    AhaWriteConfig,
    build_aha_write_job,
    build_aha_write_op,
    dead_letter_records,
    report_metadata,
    resolve_ledger,
)
from dagster_aha.destinations.plan import (
    PLAN_ACTIONS,
    PlannedWrite,
    WritePlan,
    plan_writes,
)
from dagster_aha.destinations.report import (
    DEAD_LETTER_MARKER,
    OUTCOME_STATUSES,
    WriteOutcome,
    WriteReport,
)
from dagster_aha.destinations.sensors import build_aha_write_sensor
from dagster_aha.destinations.sync import SYNC_MODES, SyncMode
from dagster_aha.destinations.templates import TEMPLATE_NAMES, TEMPLATES, EndpointTemplate

__all__ = [
    "DEAD_LETTER_CHECK",
    "DEAD_LETTER_MARKER",
    "LEDGER_STATES",
    "LEDGER_URL_ENV",
    "OUTCOME_STATUSES",
    "PLAN_ACTIONS",
    "SYNC_MODES",
    "TEMPLATES",
    "TEMPLATE_NAMES",
    "AhaDestination",
    "AhaDestinationError",
    "AhaRecordsConfig",
    "AhaWriteConfig",
    "Claim",
    "DestinationCheck",
    "DestinationCheckItem",
    "EndpointTemplate",
    "FromField",
    "LedgerEntry",
    "PlannedWrite",
    "RecordError",
    "RenderedRequest",
    "SyncMode",
    "WriteLedger",
    "WriteOutcome",
    "WritePlan",
    "WriteReport",
    "aha_destination_asset",
    "build_aha_write_job",
    "build_aha_write_op",
    "build_aha_write_sensor",
    "check_destination",
    "dead_letter_records",
    "destination_identity",
    "outcome_table_metadata",
    "plan_writes",
    "report_metadata",
    "resolve_ledger",
    "sample_requests",
    "to_json_native",
    "write_records",
]
