"""dagster_aha.dlt: land Aha! records in any dlt destination (extra ``dagster-aha[dlt]``).

``aha_dlt_source(aha, ...)`` is a plain dlt source (use it with ``dlt.pipeline(...).run``);
``build_aha_dlt_assets(...)`` makes Dagster assets of it (``dagster_dlt.dlt_assets``).
"""

from dagster_aha.dlt.assets import (
    AhaLandingRunConfig,
    DagsterAhaDltTranslator,
    build_aha_dlt_assets,
)
from dagster_aha.dlt.landing import AhaLanding
from dagster_aha.dlt.source import (
    DELETED_COLUMN,
    CustomTable,
    LandingStats,
    PivotReport,
    TableRun,
    aha_dlt_source,
)

__all__ = [
    "DELETED_COLUMN",
    "AhaLanding",
    "AhaLandingRunConfig",
    "CustomTable",
    "DagsterAhaDltTranslator",
    "LandingStats",
    "PivotReport",
    "TableRun",
    "aha_dlt_source",
    "build_aha_dlt_assets",
]
