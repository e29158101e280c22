"""Downstream of the landed Aha! tables (dlt, dataset ``aha``): a DuckDB SQL model, and the
daily read schedule. Nested objects are ``parent__child`` columns (``release__id``), custom
fields one ``custom_fields__<key>`` column each."""

import dagster as dg
from dagster_duckdb import DuckDBResource

FEATURE_STATUS_BY_RELEASE = dg.AssetKey(["analytics", "feature_status_by_release"])

FEATURE_STATUS_SQL = """
CREATE OR REPLACE TABLE analytics.feature_status_by_release AS
SELECT
    coalesce(r.reference_num, f.release__reference_num, '(no release)') AS release,
    coalesce(r.name, f.release__name) AS release_name,
    coalesce(f.workflow_status__name, '(no status)') AS status,
    count(*) AS features,
    count(f.custom_fields__external_id) AS from_intake
FROM aha.features AS f
LEFT JOIN aha.releases AS r ON r.id = f.release__id
GROUP BY ALL
ORDER BY release, status
"""


@dg.asset(
    key=FEATURE_STATUS_BY_RELEASE,
    deps=[dg.AssetKey(["aha", "features"]), dg.AssetKey(["aha", "releases"])],
    group_name="analytics",
    kinds={"duckdb", "sql"},
    description="Feature counts per release and workflow status (DuckDB SQL over aha.features).",
)
def feature_status_by_release(duckdb: DuckDBResource) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        conn.execute(FEATURE_STATUS_SQL)
        rows = conn.execute(
            "SELECT release, status, features, from_intake FROM analytics.feature_status_by_release"
        ).fetchall()
    preview = "\n".join(
        ["| release | status | features | from intake |", "|---|---|---|---|"]
        + [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |" for r in rows[:50]]
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "features": sum(int(r[2]) for r in rows),
            "preview": dg.MetadataValue.md(preview),
            "query": dg.MetadataValue.md(
                "```sql\nSELECT * FROM analytics.feature_status_by_release\n```"
            ),
        }
    )


aha_read_job = dg.define_asset_job(
    "aha_read_job",
    selection=dg.AssetSelection.groups("aha") | dg.AssetSelection.assets(FEATURE_STATUS_BY_RELEASE),
    description="Read Aha! (records and pivot reports) into DuckDB, then rebuild the SQL model.",
)

aha_daily_read_schedule = dg.ScheduleDefinition(
    name="aha_daily_read_schedule",
    job=aha_read_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    description="Every day at 06:00 UTC: incremental read of Aha! into DuckDB.",
)
