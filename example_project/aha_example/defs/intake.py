"""The write flow: intake requests (a CSV) -> features in an Aha! release, without duplicates.

* ``intake/feature_requests``: the shipped CSV, one row per request, keyed by ``external_id``;
* ``aha/intake_features`` (+ ``aha/intake_features_dead_letter``): each request becomes a feature
  in the target release (``create_feature``). ``match_on="custom_fields.external_id"`` looks the
  request up first, so materializing again updates the existing feature instead of creating a
  duplicate. Rows Aha! would reject (here: a request without a title) land in the dead letter
  with the reason; the run still succeeds (``fail_on_error=False``) so the good rows are kept.
  Against a real account the features go to ``AHA_EXAMPLE_RELEASE_ID``; without it the
  writes are dry runs (outcome ``dry_run``: the requests are rendered, nothing is sent);
* ``intake_features_job`` + ``intake_features_sensor``: the event-triggered variant, a run per
  new materialization of ``intake/feature_requests`` (start the sensor in the UI).
"""

import csv
from typing import Any

import dagster as dg

from aha_example import settings
from dagster_aha.destinations import (
    AhaDestination,
    aha_destination_asset,
    build_aha_write_job,
    build_aha_write_sensor,
)

FEATURE_REQUESTS = dg.AssetKey(["intake", "feature_requests"])


@dg.asset(
    key=FEATURE_REQUESTS,
    group_name="intake",
    kinds={"csv"},
    description="Feature requests collected by the intake form (data/feature_requests.csv).",
)
def feature_requests(context: dg.AssetExecutionContext) -> list[dict[str, Any]]:
    with settings.FEATURE_REQUESTS_CSV.open(newline="", encoding="utf-8") as handle:
        rows = [dict(row) for row in csv.DictReader(handle)]
    for row in rows:
        row["customer_votes"] = int(row["customer_votes"] or 0)
    context.add_output_metadata({"dagster/row_count": len(rows)})
    return rows


def build_intake_destination() -> AhaDestination:
    """Built when the definitions load, so the environment (sandbox or account) is current."""
    return AhaDestination(
        template="create_feature",
        path_params={"release_id": settings.target_release()},
        # Only these columns go to Aha!: name, description, the external id as a custom field.
        exclude_attributes=["requested_by", "customer_votes"],
        custom_fields={"external_id": "external_id"},
        match_on="custom_fields.external_id",
        # Real account without AHA_EXAMPLE_RELEASE_ID: render the requests, send nothing.
        dry_run=settings.writes_are_dry_run(),
    )


@dg.definitions
def intake_defs() -> dg.Definitions:
    destination = build_intake_destination()
    write_job = build_aha_write_job(destination, name="intake_features_job")
    return dg.Definitions(
        assets=[
            feature_requests,
            aha_destination_asset(
                destination,
                upstream=FEATURE_REQUESTS,
                name="intake_features",
                group_name="intake",
                fail_on_error=False,
            ),
        ],
        jobs=[write_job],
        sensors=[
            build_aha_write_sensor(
                destination,
                upstream=FEATURE_REQUESTS,
                job=write_job,
                name="intake_features_sensor",
            )
        ],
    )
