"""Software-defined assets for Aha! records: factories, incremental reads, product partitions.

Nothing here calls the Aha! API while definitions load: specs come from the static stream
registry, and the client is only created inside the asset (or sensor) body.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from dagster import (
    AddDynamicPartitionsRequest,
    AssetCheckKey,
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    Config,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    MaterializeResult,
    PartitionsDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    StaticPartitionsDefinition,
    multi_asset,
    sensor,
)

# Not re-exported at the top level of dagster 1.13; the documented metadata-set classes.
from dagster_aha.client import AhaClient
from dagster_aha.sources.asset_reads import materialization_metadata, read_with_cursor
from dagster_aha.sources.checks import evaluate_checks, record_check_specs
from dagster_aha.sources.streams import (
    DEFAULT_STREAMS,
    STREAMS,
    AhaStream,
    FieldsOption,
    custom_table_stream,
    get_stream,
    resolve_fields,
)
from dagster_aha.sources.translator import AhaAssetProps, DagsterAhaTranslator

# NB: no ``from __future__ import annotations`` here: Dagster reads the ``config`` parameter's
# annotation of the asset functions at definition time.

__all__ = [
    "AHA_PRODUCTS_PARTITIONS_NAME",
    "AhaReadConfig",
    "aha_custom_table_asset",
    "build_aha_assets",
    "build_aha_product_partitions_sensor",
]

AHA_PRODUCTS_PARTITIONS_NAME = "aha_products"
"""Name of the ``DynamicPartitionsDefinition`` made by ``product_partitions="dynamic"``."""

ProductPartitions = Sequence[str] | Literal["dynamic"] | PartitionsDefinition | None


class AhaReadConfig(Config):
    """Run config of Aha! record assets.

    ``full_refresh: true`` ignores the stored cursor and reads every record (the materialization
    is then labelled ``aha/sync_mode: full``).
    """

    full_refresh: bool = False


def _get_client(context: AssetExecutionContext | SensorEvaluationContext, key: str) -> AhaClient:
    resource = getattr(context.resources, key)
    return resource.get_client()


# ---------------------------------------------------------------------------------------------
# factories


_OP_NAME_RE = re.compile(r"[^A-Za-z0-9_]")


def _op_name(*parts: str) -> str:
    name = "_".join(p for p in parts if p)
    name = _OP_NAME_RE.sub("_", name)
    if not name or name[0].isdigit():
        name = "aha_" + name
    return name


@dataclass(frozen=True)
class _Member:
    """One record asset of a multi-asset."""

    output_name: str
    stream: AhaStream
    key: AssetKey
    fields: tuple[str, ...]


def _product_partitions_def(product_partitions: ProductPartitions) -> PartitionsDefinition | None:
    if product_partitions is None:
        return None
    if isinstance(product_partitions, PartitionsDefinition):
        return product_partitions
    if isinstance(product_partitions, str):
        if product_partitions != "dynamic":
            raise ValueError(
                'product_partitions must be a list of product ids/prefixes, "dynamic", '
                f"a PartitionsDefinition or None; got {product_partitions!r}"
            )
        return DynamicPartitionsDefinition(name=AHA_PRODUCTS_PARTITIONS_NAME)
    keys = [str(k) for k in product_partitions]
    if not keys:
        raise ValueError("product_partitions must name at least one product")
    return StaticPartitionsDefinition(keys)


def _records_multi_asset(
    *,
    name: str,
    members: Sequence[tuple[_Member, AhaAssetProps]],
    translator: DagsterAhaTranslator,
    resource_key: str,
    incremental: bool,
    lookback: timedelta,
    partitions_def: PartitionsDefinition | None,
    pool: str | None,
) -> AssetsDefinition:
    outs: dict[str, AssetOut] = {}
    check_specs = []
    resolved: list[_Member] = []
    for member, props in members:
        spec = translator.get_asset_spec(props)
        outs[member.output_name] = AssetOut.from_spec(spec, dagster_type=list, is_required=False)
        check_specs.extend(record_check_specs(spec.key, member.stream.required_keys))
        resolved.append(
            _Member(
                output_name=member.output_name,
                stream=member.stream,
                key=spec.key,
                fields=member.fields,
            )
        )
    keys = [m.key for m in resolved]
    if len(set(keys)) != len(keys):
        raise ValueError(f"The translator gave two Aha! assets the same key: {keys}")

    @multi_asset(
        name=name,
        outs=outs,
        check_specs=check_specs,
        can_subset=True,
        partitions_def=partitions_def,
        required_resource_keys={resource_key},
        pool=pool,
    )
    def _aha_records(
        context: AssetExecutionContext, config: AhaReadConfig
    ) -> Iterator[MaterializeResult]:
        client = _get_client(context, resource_key)
        product = context.partition_key if partitions_def is not None else None
        selected = context.selected_asset_keys
        selected_checks = context.selected_asset_check_keys
        product_ids: list[str] | None = None
        # products first, so a full products read can stand in for the releases' listing
        ordered = sorted(resolved, key=lambda m: m.stream is not STREAMS["products"])
        for member in ordered:
            if member.key not in selected:
                continue
            label = member.key.to_user_string()
            outcome = read_with_cursor(
                context,
                client,
                member.stream,
                key=member.key,
                label=label,
                fields=member.fields,
                product=product,
                incremental=incremental,
                lookback=lookback,
                full_refresh=config.full_refresh,
                product_ids=product_ids,
            )
            if member.stream is STREAMS["products"] and outcome.sync_mode == "full":
                product_ids = [str(r["id"]) for r in outcome.rows if r.get("id") is not None]
            context.log.info(
                f"{label}: {len(outcome.rows)} records ({outcome.sync_mode}) in "
                f"{outcome.duration_s:.2f}s, {outcome.requests} requests"
            )
            check_names = {
                ck.name
                for ck in selected_checks
                if isinstance(ck, AssetCheckKey) and ck.asset_key == member.key
            }
            yield MaterializeResult(
                asset_key=member.key,
                value=outcome.rows,
                metadata=materialization_metadata(
                    client, outcome, partitioned=partitions_def is not None
                ),
                check_results=evaluate_checks(
                    member.key, outcome.rows, member.stream.required_keys, check_names
                ),
            )

    return _aha_records


def _props_for(
    stream: AhaStream,
    *,
    kind: Literal["records", "custom_table"],
    key_prefix: Sequence[str],
    group_name: str | None,
    fields: tuple[str, ...],
    incremental: bool,
    partitioned: bool,
    product_id: str | None = None,
    table_key: str | None = None,
) -> AhaAssetProps:
    return AhaAssetProps(
        name=stream.name,
        kind=kind,
        key_prefix=tuple(key_prefix),
        group_name=group_name,
        description=stream.description,
        record_key=stream.record_key,
        list_path=(
            f"products/{{product}}/{stream.product_suffix}"
            if partitioned and stream.product_suffix
            else stream.path_template
        ),
        fields=fields,
        incremental=incremental and stream.supports_updated_since,
        partitioned_by="product" if partitioned else None,
        product_id=product_id,
        table_key=table_key,
    )


def build_aha_assets(
    *,
    streams: Sequence[str] = DEFAULT_STREAMS,
    resource_key: str = "aha",
    key_prefix: Sequence[str] = ("aha",),
    group_name: str | None = "aha",
    fields: FieldsOption = None,
    incremental: bool = False,
    lookback: timedelta = timedelta(minutes=5),
    product_partitions: ProductPartitions = None,
    translator: DagsterAhaTranslator | None = None,
    pool: str | None = "aha",
    name: str | None = None,
) -> list[AssetsDefinition]:
    """Assets for Aha! record streams, one ``multi_asset(can_subset=True)`` per partitioning.

    Args:
        streams: stream names (see ``dagster_aha.sources.streams.STREAMS``).
        resource_key: key of the ``AhaResource`` in the user's Definitions.
        key_prefix: asset key prefix; the last key segment is the stream name.
        group_name: asset group.
        fields: ``None`` for each stream's default ``fields=`` list, one list for all streams,
            or a mapping from stream name to list. ``id``, ``updated_at`` and the checked keys
            are always requested.
        incremental: ``False`` (default): every run reads every record, so the stored value is
            always the whole stream. ``True``: read only records updated since the last
            materialization's cursor (minus ``lookback``) for streams whose list supports
            ``updated_since``; the value of such a run is then ONLY the delta (changed records,
            de-duplicated by id, deletions unseen), its metadata says ``aha/value: delta`` and
            ``aha/sync_mode: incremental``. For complete incremental tables land them instead
            (``dagster_aha.dlt.build_aha_dlt_assets``).
        lookback: overlap subtracted from the cursor; records in the overlap are emitted again.
        product_partitions: ``None``; a list of product ids/prefixes (static partitions);
            ``"dynamic"`` (a ``DynamicPartitionsDefinition`` named ``aha_products``, filled by
            ``build_aha_product_partitions_sensor``); or any ``PartitionsDefinition`` whose keys
            are product ids/prefixes. Product-scoped streams are partitioned; ``products`` and
            ``users`` go in a separate unpartitioned multi-asset.
        translator: a ``DagsterAhaTranslator`` (subclass) shaping each ``AssetSpec``.
        pool: Dagster pool (concurrency key) of the steps.
        name: op name of the multi-asset (default ``<key_prefix>_records``; the partitioned one
            gets ``_by_product`` appended).

    Returns:
        One ``AssetsDefinition`` (two when ``product_partitions`` is set and both partitioned and
        account-level streams are selected). Run config ``{"full_refresh": true}`` on the op
        forces a full read.
    """
    if isinstance(streams, str):
        raise TypeError("streams must be a sequence of stream names, not a string")
    chosen = [get_stream(s) for s in streams]
    if not chosen:
        raise ValueError("build_aha_assets needs at least one stream")
    if len({s.name for s in chosen}) != len(chosen):
        raise ValueError(f"Duplicate stream names in {list(streams)}")
    if lookback < timedelta(0):
        raise ValueError("lookback must not be negative")
    translator = translator or DagsterAhaTranslator()
    partitions_def = _product_partitions_def(product_partitions)
    base = name or _op_name(*key_prefix, "records")

    groups: list[tuple[str, PartitionsDefinition | None, list[AhaStream]]]
    if partitions_def is None:
        groups = [(base, None, chosen)]
    else:
        by_product = [s for s in chosen if s.product_suffix is not None]
        account = [s for s in chosen if s.product_suffix is None]
        groups = [(base + "_by_product", partitions_def, by_product), (base, None, account)]

    out: list[AssetsDefinition] = []
    for op_name, pdef, group_streams in groups:
        if not group_streams:
            continue
        members = []
        for stream in group_streams:
            stream_fields = resolve_fields(stream, fields)
            props = _props_for(
                stream,
                kind="records",
                key_prefix=key_prefix,
                group_name=group_name,
                fields=stream_fields,
                incremental=incremental,
                partitioned=pdef is not None,
            )
            member = _Member(
                stream.name, stream, AssetKey([*key_prefix, stream.name]), stream_fields
            )
            members.append((member, props))
        out.append(
            _records_multi_asset(
                name=op_name,
                members=members,
                translator=translator,
                resource_key=resource_key,
                incremental=incremental,
                lookback=lookback,
                partitions_def=pdef,
                pool=pool,
            )
        )
    return out


def aha_custom_table_asset(
    product_id: str,
    table_key: str,
    *,
    name: str | None = None,
    resource_key: str = "aha",
    key_prefix: Sequence[str] = ("aha",),
    group_name: str | None = "aha",
    fields: Sequence[str] | str | None = None,
    incremental: bool = False,
    lookback: timedelta = timedelta(minutes=5),
    translator: DagsterAhaTranslator | None = None,
    pool: str | None = "aha",
) -> AssetsDefinition:
    """An asset over the records of one Aha! custom table.

    Reads ``products/{product_id}/custom_objects/{table_key}/records`` (key
    ``custom_object_records``), incrementally like the record streams. The asset key is
    ``key_prefix + [name]`` (``name`` defaults to ``custom_table_<table_key>``). Custom tables
    are an Enterprise+ feature: on other plans the read fails with Aha!'s 403/404 error.
    """
    if not str(product_id) or not str(table_key):
        raise ValueError("product_id and table_key must not be empty")
    asset_name = name or _op_name("custom_table", str(table_key))
    stream = custom_table_stream(str(product_id), str(table_key), name=asset_name)
    stream_fields = resolve_fields(stream, fields)
    props = _props_for(
        stream,
        kind="custom_table",
        key_prefix=key_prefix,
        group_name=group_name,
        fields=stream_fields,
        incremental=incremental,
        partitioned=False,
        product_id=str(product_id),
        table_key=str(table_key),
    )
    output_name = _op_name(asset_name)
    member = _Member(output_name, stream, AssetKey([*key_prefix, asset_name]), stream_fields)
    return _records_multi_asset(
        name=_op_name(*key_prefix, asset_name),
        members=[(member, props)],
        translator=translator or DagsterAhaTranslator(),
        resource_key=resource_key,
        incremental=incremental,
        lookback=lookback,
        partitions_def=None,
        pool=pool,
    )


def build_aha_product_partitions_sensor(
    *,
    resource_key: str = "aha",
    partitions_def_name: str = AHA_PRODUCTS_PARTITIONS_NAME,
    name: str = "aha_product_partitions_sensor",
    minimum_interval_seconds: int = 3600,
    key_field: Literal["reference_prefix", "id"] = "reference_prefix",
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> SensorDefinition:
    """A sensor that adds one dynamic partition per Aha! product it has not seen yet.

    It lists ``products`` (one cheap paged request per 200 products, ``fields=id,
    reference_prefix``) and returns a ``SensorResult`` with an ``AddDynamicPartitionsRequest``
    for the new keys. Keys are the products' ``reference_prefix`` (or ``id`` with
    ``key_field="id"``). Partitions of deleted products are kept (their history stays).
    """

    @sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={resource_key},
        default_status=default_status,
        description=(
            f"Adds a partition to the dynamic partitions {partitions_def_name!r} for each new "
            "Aha! product."
        ),
    )
    def _aha_product_partitions(
        context: SensorEvaluationContext, **_direct_call_resources: Any
    ) -> SensorResult | SkipReason:
        # Direct invocation (``sensor(context)``) also passes the required resources as keyword
        # arguments; the daemon does not. Either way the resource is read from the context.
        client = _get_client(context, resource_key)
        found: list[str] = []
        for product in client.iter_records(
            "products", fields=["id", "reference_prefix"], record_key="products"
        ):
            value = product.get(key_field)
            if value is not None and str(value) and str(value) not in found:
                found.append(str(value))
        existing = set(context.instance.get_dynamic_partitions(partitions_def_name))
        new_keys = [k for k in found if k not in existing]
        if not new_keys:
            return SkipReason(f"No new Aha! products ({len(found)} known)")
        context.log.info(f"Adding {len(new_keys)} Aha! product partition(s): {new_keys}")
        return SensorResult(
            dynamic_partitions_requests=[
                AddDynamicPartitionsRequest(
                    partitions_def_name=partitions_def_name, partition_keys=new_keys
                )
            ]
        )

    return _aha_product_partitions
