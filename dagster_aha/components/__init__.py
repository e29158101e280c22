"""dagster_aha.components: the state-backed ``AhaComponent`` (YAML), its state and scaffolder."""

from dagster_aha.components.account_state import AhaAccountState, fetch_account_state
from dagster_aha.components.aha_component import (
    REFRESH_COMMAND,
    AhaComponent,
    AhaCustomTableModel,
    AhaDestinationModel,
    AhaPivotReportModel,
)
from dagster_aha.components.verify import build_aha_verify_job

__all__ = [
    "REFRESH_COMMAND",
    "AhaAccountState",
    "AhaComponent",
    "AhaCustomTableModel",
    "AhaDestinationModel",
    "AhaPivotReportModel",
    "build_aha_verify_job",
    "fetch_account_state",
]
