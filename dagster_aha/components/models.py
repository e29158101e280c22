"""The YAML models of ``AhaComponent``'s attributes, and the destination definitions.

``landing`` (:class:`AhaLandingModel`), ``pivot_reports`` (:class:`AhaPivotReportModel`),
``custom_tables`` (:class:`AhaCustomTableModel`) and ``destinations``
(:class:`AhaDestinationModel`, built by :func:`build_destination_defs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, Optional

import dagster as dg
from pydantic import ConfigDict

from dagster_aha.components.env_templates import DeferredEnvStr
from dagster_aha.destinations import (
    AhaDestination,
    aha_destination_asset,
    build_aha_write_job,
    build_aha_write_sensor,
)
from dagster_aha.destinations.templates import TemplateName

__all__ = [
    "AhaCustomTableModel",
    "AhaDestinationModel",
    "AhaLandingModel",
    "AhaPivotReportModel",
    "build_destination_defs",
]


class AhaLandingModel(dg.Model, dg.Resolvable):
    """``landing:``: land the streams and pivot reports in a dlt destination (merged tables).

    Needs the extra ``dagster-aha[dlt]``. ``credentials`` (DuckDB: a file path, Postgres: a
    URL) is best written ``"{{ env.NAME }}"``: read when a run starts, never while loading.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    destination: str = "duckdb"
    dataset: str = "aha"
    pipeline_name: str = "aha"
    credentials: DeferredEnvStr = None
    pipelines_dir: DeferredEnvStr = None
    deletes: Literal["hard", "soft"] = "hard"
    deletions_feed: bool = True
    reconcile_every_hours: float | None = 24.0
    """Hours between id listings that remove what Aha! no longer has (0: each run, null: never)."""
    options: dict[str, Any] = {}
    """More keyword arguments of the dlt destination."""
    buffer_max_items: int | None = 1000
    """Rows dlt keeps in memory per table before writing them out (null: dlt's default)."""
    duckdb_memory_limit: str | None = "128MB"
    """DuckDB's memory_limit while loading (it spills to disk beyond; null: 80% of RAM)."""


class AhaPivotReportModel(dg.Model, dg.Resolvable):
    """One Aha! custom pivot report read as an asset (``aha_pivot_report_asset``)."""

    report_id: str | int
    """The report's id (the number in its URL); numbers and strings are both accepted."""
    name: str
    view: Literal["list", "pivot"] = "list"
    value: Literal["plain", "html", "rich", "id"] = "plain"
    description: str | None = None


class AhaCustomTableModel(dg.Model):
    """One custom table to read (``aha_custom_table_asset``)."""

    table_key: str
    """The table's key (``customers`` in ``products/PRJ1/custom_objects/customers/records``)."""
    product_id: str | None = None
    """Product id or reference prefix; without it, every product holding the table (state)."""
    name: str | None = None
    """Asset name (default ``custom_table_<prefix>_<table_key>``)."""


class AhaDestinationModel(dg.Model, dg.Resolvable):
    """One write-back destination (``aha_destination_asset``): upstream records -> Aha!.

    The fields other than ``name``, ``upstream``, ``ledger``, ``automation_condition``,
    ``group_name``, ``description``, ``fail_on_error``, ``max_failed``,
    ``dead_letter_check_severity`` and ``sensor`` are those of
    :class:`dagster_aha.destinations.AhaDestination` (``mode``, ``on_removed``,
    ``max_deletes``, ``dry_run`` included: a dry run stores the write plan).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str
    upstream: str
    """Asset key of the upstream records, slash-separated (``intake/feature_requests``)."""
    template: TemplateName | None = None
    method: Literal["POST", "PUT", "DELETE"] | None = None
    path: str | None = None
    wrap_key: str | None = None
    headers: dict[str, str] = {}
    path_params: dict[str, str | int | dict[str, str]] = {}
    exclude_attributes: list[str] = []
    field_mapping: dict[str, str] = {}
    custom_fields: dict[str, str] = {}
    batch_size: int | None = None
    batch_property: str | None = None
    batch_extra: dict[str, Any] = {}
    disable_mailers: bool = True
    dry_run: bool = False
    allow_delete: bool = False
    match_on: str | None = None
    on_match: Literal["update", "skip"] = "update"
    record_key: str | list[str] | None = None
    """Upstream field(s) identifying a record in the write ledger (default: the match_on
    value, else the request's content hash)."""
    mode: Literal["create", "upsert", "update_only", "mirror"] | None = None
    on_removed: Literal["delete", "keep"] | None = None
    max_deletes: int | float | None = None
    mirror_matched: bool = False
    max_concurrency: int | None = None
    ledger: bool | str = True
    """The write ledger: ``true`` (the Dagster instance's), ``false`` (none), or a SQLAlchemy
    URL / SQLite path."""
    automation_condition: Annotated[
        dg.AutomationCondition | None,
        dg.Resolver.default(
            model_field_type=Optional[str],  # noqa: UP045
            description='e.g. "{{ dg.AutomationCondition.eager() }}": write when upstream updates.',
        ),
    ] = None
    group_name: str | None = "aha_writes"
    description: str | None = None
    fail_on_error: bool = True
    """Fail the step (after both assets are stored) when any record failed or is ambiguous."""
    max_failed: int | float | None = None
    """Fail the step only above this many failed/ambiguous records (a count, or a ratio such
    as ``0.05``); at or below it the step succeeds with a warning. Replaces ``fail_on_error``."""
    dead_letter_check_severity: Literal["WARN", "ERROR"] = "ERROR"
    """Severity of the dead-letter asset check (fails when the dead letter holds records)."""
    sensor: bool = False
    """Also build ``<name>_job`` and ``<name>_sensor`` (write when the upstream materializes)."""

    def to_destination(self) -> AhaDestination:
        fields = self.model_dump(exclude=_NOT_DESTINATION_FIELDS, exclude_none=True)
        return AhaDestination(**fields)


_NOT_DESTINATION_FIELDS = {
    "name",
    "ledger",
    "upstream",
    "automation_condition",
    "group_name",
    "description",
    "fail_on_error",
    "max_failed",
    "dead_letter_check_severity",
    "sensor",
}


def build_destination_defs(
    items: Sequence[AhaDestinationModel],
    *,
    resource_key: str,
    key_prefix: Sequence[str],
    pool: str | None,
) -> tuple[list[Any], list[Any], list[dg.SensorDefinition]]:
    """Assets (outcome + dead letter), jobs and sensors of the component's ``destinations``."""
    assets: list[Any] = []
    jobs: list[Any] = []
    sensors: list[dg.SensorDefinition] = []
    for item in items:
        destination = item.to_destination()
        upstream = dg.AssetKey.from_user_string(item.upstream)
        assets.extend(
            _as_list(
                aha_destination_asset(
                    destination,
                    upstream=upstream,
                    name=item.name,
                    automation_condition=item.automation_condition,
                    pool=pool,
                    resource_key=resource_key,
                    key_prefix=key_prefix,
                    group_name=item.group_name,
                    description=item.description,
                    fail_on_error=item.fail_on_error,
                    max_failed=item.max_failed,
                    dead_letter_check_severity=item.dead_letter_check_severity,
                    ledger=item.ledger,
                )
            )
        )
        if item.sensor:
            job = build_aha_write_job(
                destination,
                name=f"{item.name}_job",
                resource_key=resource_key,
                pool=pool,
                fail_on_error=item.fail_on_error,
                max_failed=item.max_failed,
                ledger=item.ledger,
            )
            jobs.append(job)
            sensors.append(
                build_aha_write_sensor(
                    destination, upstream=upstream, job=job, name=f"{item.name}_sensor"
                )
            )
    return assets, jobs, sensors


def _as_list(value: Any) -> Sequence[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]
