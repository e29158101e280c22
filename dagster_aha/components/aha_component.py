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

The component is state-backed (``dagster.components.StateBackedComponent``): ``dg utils
refresh-defs-state`` reads a snapshot of the account (products, custom tables, custom field
definitions, the named pivot reports' columns; see :mod:`dagster_aha.components.account_state`)
into the project's local state directory, and definitions are built from it without calling
Aha!: one asset per custom table, ``product_partitions: all``, typed column schemas. Without
state the streams written in YAML load as they are, and a log line says how to refresh.

Credentials written as ``"{{ env.NAME }}"`` are NOT read while definitions load: they become
``dg.EnvVar("NAME")`` on the resource, read when a run starts, and shown in the UI as the env
var's name (never its value). When neither ``subdomain`` nor ``base_url`` is given the component
binds no resource: the ``aha`` resource (``resource_key``) must come from elsewhere in the
project's Definitions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg

# Not re-exported at the top level of dagster 1.13; the documented metadata-set classes.
from dagster._core.definitions.metadata import TableMetadataSet
from dagster.components.component.state_backed_component import StateBackedComponent
from dagster.components.utils.defs_state import (
    DefsStateConfig,
    DefsStateConfigArgs,
    ResolvedDefsStateConfig,
)
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver
from dagster_shared.serdes.objects.models.defs_state_info import DefsStateManagementType
from pydantic import ConfigDict, PrivateAttr, ValidationError

from dagster_aha.client import AhaClient
from dagster_aha.components.account_state import (
    STATE_VERSION,
    AhaAccountState,
    fetch_account_state,
)
from dagster_aha.components.columns import (
    custom_table_schema,
    pivot_report_schema,
    stream_schema,
)
from dagster_aha.components.env_templates import DeferredEnvStr, DeferredSecretStr
from dagster_aha.components.models import (
    AhaCustomTableModel,
    AhaDestinationModel,
    AhaLandingModel,
    AhaPivotReportModel,
    build_destination_defs,
)
from dagster_aha.components.read_assets import component_read_assets
from dagster_aha.components.scaffolder import AhaComponentScaffolder
from dagster_aha.components.state_assets import (
    REFRESH_COMMAND,
    ProductPartitionsOption,
    default_body,
    has_local_state_dir,
    import_resource,
    safe_name,
    wrap_with_execute,
)
from dagster_aha.components.verify import build_aha_verify_job
from dagster_aha.resource import AhaResource, check_key_is_deferred
from dagster_aha.sources import (
    DEFAULT_STREAMS,
    STREAMS,
    AhaAssetProps,
    DagsterAhaTranslator,
    build_aha_change_sensor,
)

__all__ = [
    "REFRESH_COMMAND",
    "AhaComponent",
    "AhaCustomTableModel",
    "AhaDestinationModel",
    "AhaLandingModel",
    "AhaPivotReportModel",
]

_log = dg.get_dagster_logger("dagster_aha")


def _props_template_vars(props: AhaAssetProps) -> dict[str, Any]:
    return {
        "props": props,
        "name": props.name,
        "kind": props.kind,
        "report_id": props.report_id,
        "view": props.view,
    }


class _ComponentTranslator(DagsterAhaTranslator):
    """``component.get_asset_spec`` with the component's ``translation`` applied on top."""

    def __init__(self, component: AhaComponent) -> None:
        self._component = component

    def get_asset_spec(self, props: AhaAssetProps) -> dg.AssetSpec:
        spec = self._component.get_asset_spec(props)
        fn = self._component.translation
        return fn(spec, props) if fn is not None else spec


@dg.scaffold_with(AhaComponentScaffolder)
class AhaComponent(StateBackedComponent, dg.Model, dg.Resolvable):
    """Aha! record assets, custom tables, pivot reports and write-back destinations, from YAML.

    A state-backed component: `dg utils refresh-defs-state` stores a snapshot of the account
    (products, each product's custom tables, custom field definitions, the pivot reports'
    columns); definitions are built from it with no API call at load time. From the state:
    one asset per custom table (`custom_tables` / `exclude_custom_tables`), static product
    partitions (`product_partitions: all`), typed column schemas with one column per custom
    field. Without state the streams written in YAML load as they are.

    Builds: one `multi_asset` for `streams` (incremental where Aha! supports
    `updated_since`), one asset per custom table and per entry of `pivot_reports`, for each
    entry of `destinations` an outcome asset plus its dead-letter asset (and, with
    `sensor: true`, a write job and sensor), and the connection check job
    `<key_prefix>_verify` (`GET /me`); with `change_sensor: true` also
    `<key_prefix>_change_sensor`, which polls Aha!'s audit feed and materializes only the
    streams that changed. With `subdomain` (or `base_url`) and
    `api_key: "{{ env.AHA_API_KEY }}"` it also binds an `AhaResource` under `resource_key`.

    Subclass it to override `get_asset_spec(props)` (shape every asset spec),
    `execute(context, aha)` (run a read step) or `get_state_resource()` (the account the
    state is read from).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    subdomain: DeferredEnvStr = None
    api_key: DeferredSecretStr = None
    base_url: DeferredEnvStr = None
    user_agent: str | None = None
    requests_per_second: float | None = None
    requests_per_minute: float | None = None
    max_retries: int | None = None
    timeout: float | None = None
    budget_store: DeferredEnvStr = None
    """Shared rate budget: 'process', 'host' or a SQLite/PostgreSQL SQLAlchemy URL."""
    resource_key: str = "aha"
    state_resource: str | None = None
    """``package.module:function`` returning the ``AhaResource`` the state is read from, for a
    component that binds no resource (the project binds ``resource_key`` itself). Imported only
    by ``dg utils refresh-defs-state``, never while definitions load."""

    streams: list[str] = list(DEFAULT_STREAMS)
    key_prefix: list[str] = ["aha"]
    group_name: str | None = "aha"
    fields: dict[str, list[str]] | list[str] | None = None
    """``fields=`` per stream (or one list for all); custom table assets are keyed by name."""
    landing: AhaLandingModel | None = None
    """Land the streams and pivot reports as merged tables (dlt) instead of asset values."""
    incremental: bool = False
    """Without ``landing``: store only the changed records (a delta) as each asset's value."""
    lookback_minutes: float = 5.0
    pool: str | None = "aha"
    product_partitions: ProductPartitionsOption = None
    """``all`` (every product of the state), a list of product ids/prefixes, or ``dynamic``."""
    change_sensor: bool = False
    """Also build ``<key_prefix>_change_sensor``: polls Aha!'s audit feed and materializes only
    the streams (and product partitions) that changed (``build_aha_change_sensor``)."""

    custom_tables: Literal["all"] | list[AhaCustomTableModel | str] = "all"
    """``all``: every custom table the state knows; or the tables to read (a key, or
    ``{table_key, product_id, name}``). Named keys are also looked for when refreshing."""
    exclude_custom_tables: list[str] = []
    """Opt-out: ``key`` (every product) or ``PRODUCT/key`` entries."""
    pivot_reports: list[AhaPivotReportModel] = []
    destinations: list[AhaDestinationModel] = []
    verify_job: bool = True
    """Build ``<key_prefix>_verify``: ``GET /me``, reports the user and account."""

    translation: Annotated[
        TranslationFn[AhaAssetProps] | None,
        TranslationFnResolver[AhaAssetProps](template_vars_for_translation_fn=_props_template_vars),
    ] = None

    defs_state: ResolvedDefsStateConfig = DefsStateConfigArgs(
        management_type=DefsStateManagementType.LOCAL_FILESYSTEM, refresh_if_dev=False
    )
    """Where the state lives (default: the project's local state directory, refreshed only
    by ``dg utils refresh-defs-state``: ``refresh_if_dev: false``, so no ``dg`` command
    calls Aha! while loading)."""

    _state: AhaAccountState | None = PrivateAttr(default=None)

    # -- state ------------------------------------------------------------------------------

    @property
    def defs_state_config(self) -> DefsStateConfig:
        account = f"resource:{self.resource_key}"
        for value in (self.subdomain, self.base_url):
            if isinstance(value, dg.EnvVar):
                account = f"env:{value.env_var_name}"
                break
            if value:
                account = str(value)
                break
        default_key = f"{type(self).__name__}[{account}/{'/'.join(self.key_prefix)}]"
        return DefsStateConfig.from_args(self.defs_state, default_key=default_key)

    @property
    def state(self) -> AhaAccountState | None:
        """The snapshot the definitions were last built from (``None``: no state)."""
        return self._state

    def get_state_resource(self) -> AhaResource:
        """The ``AhaResource`` the state is read from (default: the one this component binds).

        Override it when the project binds its ``aha`` resource elsewhere (as the example
        project does). ``EnvVar`` values are read when the state is refreshed.
        """
        if self.state_resource:
            return import_resource(self.state_resource)
        resource = self.build_resource()
        if resource is None:
            raise ValueError(
                "AhaComponent: refreshing the state needs an account: set subdomain (or "
                "base_url) and api_key in defs.yaml, or state_resource: "
                '"package.module:function" returning the project\'s AhaResource (or override '
                "get_state_resource() in a subclass)"
            )
        return resource

    def _custom_table_candidates(self) -> list[tuple[str | None, str]]:
        if self.custom_tables == "all":
            return []
        return [(t.product_id, t.table_key) for t in self._custom_table_models()]

    def _custom_table_models(self) -> list[AhaCustomTableModel]:
        if self.custom_tables == "all":
            return []
        return [
            AhaCustomTableModel(table_key=t) if isinstance(t, str) else t
            for t in self.custom_tables
        ]

    def fetch_state(self, client: AhaClient) -> AhaAccountState:
        """Read the account snapshot through ``client`` (what ``refresh-defs-state`` stores)."""
        return fetch_account_state(
            client,
            pivot_report_ids=[str(r.report_id) for r in self.pivot_reports],
            custom_tables=self._custom_table_candidates(),
        )

    def write_state_to_path(self, state_path: Path) -> None:
        with dg.build_resources({"aha": self.get_state_resource()}) as resources:
            client = resources.aha.get_client()
            state = self.fetch_state(client)
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.write_text(state.to_json(), encoding="utf-8")
        _log.info(
            f"Aha! state of {state.account_url} refreshed in {state.requests} requests: "
            f"{len(state.products)} products, {len(state.custom_tables)} custom tables, "
            f"{len(state.custom_fields)} custom fields, {len(state.pivot_reports)} pivot reports"
        )

    def _read_state(self, state_path: Path | None) -> AhaAccountState | None:
        if state_path is None or not state_path.exists():
            return None
        try:
            state = AhaAccountState.from_json(state_path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as exc:
            _log.warning(
                f"AhaComponent: the stored Aha! state at {state_path} cannot be read ({exc}); "
                f"building without it. Run `{REFRESH_COMMAND}` to write it again."
            )
            return None
        if state.version != STATE_VERSION:
            _log.warning(
                f"AhaComponent: the stored Aha! state has version {state.version} (this "
                f"dagster-aha writes {STATE_VERSION}); run `{REFRESH_COMMAND}`."
            )
            return None
        return state

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        if (
            self.defs_state_config.management_type == DefsStateManagementType.LOCAL_FILESYSTEM
            and not has_local_state_dir(context.project_root)
        ):
            # Not in a dg project (e.g. Python code building the component by hand): no state.
            return self.build_defs_from_state(context, state_path=None)
        return super().build_defs(context)

    # -- overridable ------------------------------------------------------------------------

    def get_asset_spec(self, props: AhaAssetProps) -> dg.AssetSpec:
        """The ``AssetSpec`` of one Aha! asset (before ``translation``).

        The default is ``DagsterAhaTranslator``'s spec plus the typed column schema the state
        gives (``dagster/column_schema``). Override it in a subclass::

            class MyAhaComponent(AhaComponent):
                def get_asset_spec(self, props):
                    spec = super().get_asset_spec(props)
                    return spec.replace_attributes(owners=["team:product-ops"])
        """
        spec = DagsterAhaTranslator().get_asset_spec(props)
        schema = self._column_schema(props)
        if schema is not None:
            spec = spec.merge_attributes(metadata=dict(TableMetadataSet(column_schema=schema)))
        return spec

    def execute(self, context: dg.AssetExecutionContext, aha: AhaResource) -> Iterator[Any]:
        """Run one read step (records, a custom table or a pivot report) of this component.

        Yields the step's ``MaterializeResult``s and check results. Override it to wrap the
        read (logging, tagging, gating)::

            class MyAhaComponent(AhaComponent):
                def execute(self, context, aha):
                    context.log.info("reading Aha!")
                    yield from super().execute(context, aha)
        """
        body = self._bodies[context.op_execution_context.op_def.name]
        yield from body(context)

    # -- building ---------------------------------------------------------------------------

    _bodies: dict[str, Any] = PrivateAttr(default_factory=dict)

    def _translator(self) -> DagsterAhaTranslator:
        return _ComponentTranslator(self)

    def _column_schema(self, props: AhaAssetProps) -> dg.TableSchema | None:
        state = self._state
        if props.kind == "records":
            stream = STREAMS.get(props.name)
            if stream is None:
                return None
            return stream_schema(state, stream.name, props.fields, stream.required_keys)
        if props.kind == "custom_table" and props.table_key:
            return custom_table_schema(state, props.table_key, props.fields)
        if props.kind == "pivot_report" and props.report_id and state is not None:
            report = state.pivot_report(props.report_id)
            return pivot_report_schema(report) if report is not None else None
        return None

    def build_resource(self) -> AhaResource | None:
        """The ``AhaResource`` configured by this component, or ``None`` (bound elsewhere)."""
        if self.subdomain is None and self.base_url is None:
            return None
        if self.api_key is None:
            raise ValueError(
                "AhaComponent: api_key is required with subdomain/base_url "
                '(e.g. api_key: "{{ env.AHA_API_KEY }}")'
            )
        check_key_is_deferred(self.api_key, self.subdomain, self.base_url, owner="AhaComponent")
        options: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "user_agent",
                "requests_per_second",
                "requests_per_minute",
                "max_retries",
                "timeout",
                "budget_store",
            )
            if getattr(self, name) is not None
        }
        return AhaResource(
            subdomain=self.subdomain, base_url=self.base_url, api_key=self.api_key, **options
        )

    def build_defs_from_state(
        self, context: dg.ComponentLoadContext, state_path: Path | None
    ) -> dg.Definitions:
        state = self._read_state(state_path)
        self._state = state
        where = f" ({context.path})" if getattr(context, "path", None) else ""
        if state is None:
            _log.warning(
                f"AhaComponent{where}: no Aha! state yet (never refreshed): building the "
                "streams, custom tables and reports written in defs.yaml only, without custom "
                f"tables, product partitions or custom field columns from the account. Run "
                f"`{REFRESH_COMMAND}` in the project to read them (nothing calls Aha! while "
                "definitions load)."
            )
        assets = component_read_assets(self, state)
        if type(self).execute is not AhaComponent.execute:
            self._bodies = {a.op.name: default_body(a) for a in assets}
            assets = [wrap_with_execute(a, self.execute, self.resource_key) for a in assets]
        destination_assets, jobs, sensors = build_destination_defs(
            self.destinations,
            resource_key=self.resource_key,
            key_prefix=self.key_prefix,
            pool=self.pool,
        )
        if self.change_sensor and self.streams:
            sensors.append(
                build_aha_change_sensor(
                    assets,
                    resource_key=self.resource_key,
                    name=safe_name(*self.key_prefix, "change_sensor"),
                )
            )
        assets = [*assets, *destination_assets]
        if self.verify_job:
            jobs.append(
                build_aha_verify_job(
                    name=safe_name(*self.key_prefix, "verify"),
                    resource_key=self.resource_key,
                    pool=self.pool,
                )
            )
        resource = self.build_resource()
        return dg.Definitions(
            assets=assets,
            jobs=jobs,
            sensors=sensors,
            resources={self.resource_key: resource} if resource is not None else None,
        )
