"""dagster_aha.components: ``AhaComponent`` (YAML) and its scaffolder."""

from dagster_aha.components.aha_component import (
    AhaComponent,
    AhaDestinationModel,
    AhaPivotReportModel,
)

__all__ = ["AhaComponent", "AhaDestinationModel", "AhaPivotReportModel"]
