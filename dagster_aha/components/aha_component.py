"""``AhaComponent``: Aha! read assets, pivot reports and write-back destinations from YAML.

.. code-block:: yaml

    type: dagster_aha.AhaComponent
    attributes:
      subdomain: "{{ env.AHA_SUBDOMAIN }}"
      api_key: "{{ env.AHA_API_KEY }}"
      streams: [products, releases, features, epics]
      pivot_reports:
        - {report_id: "6776554737167062431", name: roadmap_report, view: list}
      destinations:
        - name: intake_to_aha
          upstream: intake/feature_requests
          template: create_feature
          path_params: {release_id: PRJ1-R-1}
          custom_fields: {external_id: external_id}
          match_on: custom_fields.external_id
      translation:
        group_name: aha_raw

Credentials written as ``"{{ env.NAME }}"`` are NOT read while definitions load: they become
``dg.EnvVar("NAME")`` on the resource, read when a run starts, and shown in the UI as the env
var's name (never its value). When neither ``subdomain`` nor ``base_url`` is given the component
binds no resource: the ``aha`` resource (``resource_key``) must come from elsewhere in the
project's Definitions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any, Literal, Optional, Union

import dagster as dg
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver
from pydantic import ConfigDict

from dagster_aha.components.scaffolder import AhaComponentScaffolder
from dagster_aha.destinations import (
    AhaDestination,
    aha_destination_asset,
    build_aha_write_job,
    build_aha_write_sensor,
)
from dagster_aha.destinations.templates import TemplateName
from dagster_aha.resource import AhaResource
from dagster_aha.sources import (
    DEFAULT_STREAMS,
    AhaAssetProps,
    DagsterAhaTranslator,
    aha_pivot_report_asset,
    build_aha_assets,
)

__all__ = ["AhaComponent", "AhaDestinationModel", "AhaPivotReportModel"]

_ENV_TEMPLATE_RE = re.compile(
    r"""^\s*\{\{\s*(?:env\.([A-Za-z_][A-Za-z0-9_]*)|env\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\))\s*\}\}\s*$"""
)


def _resolve_deferred_env(context: dg.ResolutionContext, raw: Any) -> Any:
    """``"{{ env.X }}"`` -> ``dg.EnvVar("X")`` (read at run time); anything else is resolved."""
    if isinstance(raw, str):
        match = _ENV_TEMPLATE_RE.match(raw)
        if match:
            return dg.EnvVar(match.group(1) or match.group(2))
    return context.resolve_value(raw)


# The field keeps the EnvVar itself (a str subclass that a plain ``str`` field would coerce to the
# variable's NAME); the YAML schema stays a plain optional string.
DeferredEnvStr = Annotated[
    Union[dg.EnvVar, str, None],  # noqa: UP007 - the resolver machinery needs a runtime type
    dg.Resolver(
        _resolve_deferred_env,
        model_field_type=Optional[str],  # noqa: UP045
        inject_before_resolve=False,
        description='A value, or "{{ env.NAME }}" to read the environment variable NAME at run '
        "time (it is then shown as the variable's name, never its value).",
    ),
]


def _props_template_vars(props: AhaAssetProps) -> dict[str, Any]:
    return {
        "props": props,
        "name": props.name,
        "kind": props.kind,
        "report_id": props.report_id,
        "view": props.view,
    }


class AhaPivotReportModel(dg.Model, dg.Resolvable):
    """One Aha! custom pivot report read as an asset (``aha_pivot_report_asset``)."""

    report_id: str | int
    """The report's id (the number in its URL); numbers and strings are both accepted."""
    name: str
    view: Literal["list", "pivot"] = "list"
    value: Literal["plain", "html", "rich", "id"] = "plain"
    description: str | None = None


class AhaDestinationModel(dg.Model, dg.Resolvable):
    """One write-back destination (``aha_destination_asset``): upstream records -> Aha!.

    The fields other than ``name``, ``upstream``, ``automation_condition``, ``group_name``,
    ``description``, ``fail_on_error``, ``max_failed``, ``dead_letter_check_severity`` and
    ``sensor`` are those of :class:`dagster_aha.destinations.AhaDestination` (``mode``,
    ``on_removed``, ``max_deletes``, ``dry_run`` included: a dry run stores the write plan).
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


class _TranslatingTranslator(DagsterAhaTranslator):
    """The default translator with the component's ``translation`` applied on top."""

    def __init__(self, fn: TranslationFn[AhaAssetProps]) -> None:
        self._fn = fn

    def get_asset_spec(self, props: AhaAssetProps) -> dg.AssetSpec:
        return self._fn(super().get_asset_spec(props), props)


@dg.scaffold_with(AhaComponentScaffolder)
class AhaComponent(dg.Component, dg.Model, dg.Resolvable):
    """Aha! record assets, pivot report assets and write-back destinations, from YAML.

    Builds, with no API call at load time: one ``multi_asset`` for ``streams`` (incremental
    where Aha! supports ``updated_since``), one asset per entry of ``pivot_reports``, and for
    each entry of ``destinations`` an outcome asset plus its dead-letter asset (and, with
    ``sensor: true``, a write job and sensor). With ``subdomain`` (or ``base_url``) and
    ``api_key`` it also binds an ``AhaResource`` under ``resource_key``.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    subdomain: DeferredEnvStr = None
    api_key: DeferredEnvStr = None
    base_url: DeferredEnvStr = None
    user_agent: str | None = None
    requests_per_second: float | None = None
    requests_per_minute: float | None = None
    max_retries: int | None = None
    timeout: float | None = None
    resource_key: str = "aha"

    streams: list[str] = list(DEFAULT_STREAMS)
    key_prefix: list[str] = ["aha"]
    group_name: str | None = "aha"
    fields: dict[str, list[str]] | list[str] | None = None
    incremental: bool = True
    lookback_minutes: float = 5.0
    pool: str | None = "aha"

    pivot_reports: list[AhaPivotReportModel] = []
    destinations: list[AhaDestinationModel] = []

    translation: Annotated[
        TranslationFn[AhaAssetProps] | None,
        TranslationFnResolver[AhaAssetProps](template_vars_for_translation_fn=_props_template_vars),
    ] = None

    # -- building ---------------------------------------------------------------------------

    def _translator(self) -> DagsterAhaTranslator:
        if self.translation is None:
            return DagsterAhaTranslator()
        return _TranslatingTranslator(self.translation)

    def build_resource(self) -> AhaResource | None:
        """The ``AhaResource`` configured by this component, or ``None`` (bound elsewhere)."""
        if self.subdomain is None and self.base_url is None:
            return None
        if self.api_key is None:
            raise ValueError(
                "AhaComponent: api_key is required with subdomain/base_url "
                '(e.g. api_key: "{{ env.AHA_API_KEY }}")'
            )
        options: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "user_agent",
                "requests_per_second",
                "requests_per_minute",
                "max_retries",
                "timeout",
            )
            if getattr(self, name) is not None
        }
        return AhaResource(
            subdomain=self.subdomain, base_url=self.base_url, api_key=self.api_key, **options
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        translator = self._translator()
        assets: list[Any] = []
        if self.streams:
            assets.extend(
                build_aha_assets(
                    streams=self.streams,
                    resource_key=self.resource_key,
                    key_prefix=self.key_prefix,
                    group_name=self.group_name,
                    fields=self.fields,
                    incremental=self.incremental,
                    lookback=timedelta(minutes=self.lookback_minutes),
                    translator=translator,
                    pool=self.pool,
                )
            )
        for report in self.pivot_reports:
            assets.append(
                aha_pivot_report_asset(
                    str(report.report_id),
                    name=report.name,
                    view=report.view,
                    value=report.value,
                    resource_key=self.resource_key,
                    key_prefix=self.key_prefix,
                    group_name=self.group_name,
                    pool=self.pool,
                    translator=translator,
                    description=report.description,
                )
            )
        jobs: list[Any] = []
        sensors: list[dg.SensorDefinition] = []
        for item in self.destinations:
            destination = item.to_destination()
            upstream = dg.AssetKey.from_user_string(item.upstream)
            assets.extend(
                _as_list(
                    aha_destination_asset(
                        destination,
                        upstream=upstream,
                        name=item.name,
                        automation_condition=item.automation_condition,
                        pool=self.pool,
                        resource_key=self.resource_key,
                        key_prefix=self.key_prefix,
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
                    resource_key=self.resource_key,
                    pool=self.pool,
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
        resource = self.build_resource()
        return dg.Definitions(
            assets=assets,
            jobs=jobs,
            sensors=sensors,
            resources={self.resource_key: resource} if resource is not None else None,
        )


def _as_list(value: Any) -> Sequence[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]
