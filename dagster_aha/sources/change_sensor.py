"""``build_aha_change_sensor``: materialize only the Aha! streams that changed.

Each tick polls Aha!'s audit feed from a serialised cursor (``audit_feed.py``), maps each new
audit's ``auditable_type`` (and ``associated_type``, for values attached to a record such as
custom field values and descriptions) to the streams it changes (``AhaStream.audit_types``),
and requests runs that materialize only those assets:

* one run for the changed unpartitioned streams, and for product-partitioned streams one run per
  changed product (the product comes from the audit's record reference, e.g. ``PRJ1-12`` in its
  ``auditable_url``; an audit whose product is unknown requests every partition: never skip);
* ``run_key`` = a digest of the audit ids the run answers (plus the partition), and the cursor
  remembers the handled ids: a tick that is evaluated again, or an audit read twice, never
  requests a second run;
* nothing changed: no run, a skip reason.

A tick stops reading after ``time_budget_seconds`` (default: Dagster's sensor timeout minus 20 s,
as ``dagster-fivetran``'s polling sensor does) and after its share of the rate budget:
``rate_budget_share x requests_per_minute x minimum_interval_seconds / 60`` requests (at least
one), through the resource's client, so the account's shared limiter paces it with every other
Aha! read and write. What is left is read on the next tick.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import dagster as dg
from dagster._grpc.client import DEFAULT_SENSOR_GRPC_TIMEOUT

from dagster_aha.client import AhaClient
from dagster_aha.sources.audit_feed import AuditCursor, poll_audits
from dagster_aha.sources.streams import DEFAULT_STREAMS, STREAMS, streams_for_audit_type

__all__ = ["DEFAULT_CHANGE_SENSOR_TIME_BUDGET", "build_aha_change_sensor", "streams_for_audits"]

#: Seconds a tick may spend reading, under Dagster's sensor evaluation timeout.
DEFAULT_CHANGE_SENSOR_TIME_BUDGET = float(DEFAULT_SENSOR_GRPC_TIMEOUT - 20)

_REFERENCE_RE = re.compile(r"(?:^|/)([A-Za-z][A-Za-z0-9]*)-(?:[A-Za-z]+-)?\d+(?:-\d+)?(?:$|[/?#])")


class _Target:
    """One asset the sensor may request: its key, stream and partitions."""

    def __init__(
        self, key: dg.AssetKey, stream: str, partitions_def: dg.PartitionsDefinition | None
    ) -> None:
        self.key = key
        self.stream = stream
        self.partitions_def = partitions_def


def _targets_from_assets(assets: Iterable[dg.AssetsDefinition]) -> list[_Target]:
    targets: list[_Target] = []
    for assets_def in assets:
        for spec in assets_def.specs:
            entry = spec.metadata.get("aha/stream")
            stream = getattr(entry, "value", entry)
            if isinstance(stream, str) and stream in STREAMS:
                targets.append(_Target(spec.key, stream, assets_def.partitions_def))
    return targets


def streams_for_audits(audits: Iterable[Mapping[str, Any]]) -> set[str]:
    """The stream names the audits change (``auditable_type`` and ``associated_type``)."""
    out: set[str] = set()
    for audit in audits:
        for key in ("auditable_type", "associated_type"):
            value = audit.get(key)
            if isinstance(value, str) and value:
                out.update(streams_for_audit_type(value))
    return out


def _product_hints(audit: Mapping[str, Any]) -> set[str]:
    """Product ids / reference prefixes an audit names (empty when it names none)."""
    hints: set[str] = set()
    for key in ("product_id", "project_id"):
        if audit.get(key) is not None:
            hints.add(str(audit[key]))
    auditable = audit.get("auditable")
    if isinstance(auditable, Mapping) and auditable.get("product_id") is not None:
        hints.add(str(auditable["product_id"]))
    for key in ("auditable_url", "associated_url", "reference_num"):
        value = audit.get(key)
        if isinstance(value, str):
            match = _REFERENCE_RE.search(value)
            if match:
                hints.add(match.group(1))
    return hints


def _digest(ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:24]


def _partition_keys(pdef: dg.PartitionsDefinition, instance: dg.DagsterInstance) -> list[str]:
    return list(pdef.get_partition_keys(dynamic_partitions_store=instance))


def build_aha_change_sensor(
    assets: Sequence[dg.AssetsDefinition] | None = None,
    *,
    streams: Sequence[str] | None = None,
    key_prefix: Sequence[str] = ("aha",),
    resource_key: str = "aha",
    name: str = "aha_change_sensor",
    minimum_interval_seconds: int = 60,
    time_budget_seconds: float = DEFAULT_CHANGE_SENSOR_TIME_BUDGET,
    rate_budget_share: float = 0.1,
    max_requests_per_tick: int | None = None,
    overlap: timedelta = timedelta(minutes=5),
    initial_lookback: timedelta = timedelta(hours=1),
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor that requests runs of only the Aha! streams the audit feed says changed.

    Args:
        assets: the Aha! record assets to keep fresh (``build_aha_assets(...)``'s result); their
            keys, streams and partitions come from the specs (translated keys are honoured).
        streams / key_prefix: instead of ``assets``: unpartitioned assets ``key_prefix +
            [stream]`` (default: the default streams).
        resource_key: key of the ``AhaResource``.
        minimum_interval_seconds: seconds between ticks.
        time_budget_seconds: reading stops after this many seconds of a tick (must stay under
            Dagster's sensor timeout, 60 s by default).
        rate_budget_share: share of the account's ``requests_per_minute`` the sensor may use
            (``0 < share <= 1``); a tick sends at most ``share x requests_per_minute x
            minimum_interval_seconds / 60`` requests (at least one).
        max_requests_per_tick: a lower cap on the requests of one tick, if given.
        overlap: how far back each poll re-reads (audits visible late); repeats are dropped.
        initial_lookback: the first tick (no cursor) reads the audits of this last period.
        default_status: ``STOPPED`` by default; start it in the UI.
    """
    if not 0 < rate_budget_share <= 1:
        raise ValueError("rate_budget_share must be in (0, 1]")
    if not 0 < time_budget_seconds < DEFAULT_SENSOR_GRPC_TIMEOUT:
        raise ValueError(
            f"time_budget_seconds must be positive and under Dagster's sensor timeout "
            f"({DEFAULT_SENSOR_GRPC_TIMEOUT} s)"
        )
    if max_requests_per_tick is not None and max_requests_per_tick < 1:
        raise ValueError("max_requests_per_tick must be at least 1")
    if assets is not None and streams is not None:
        raise ValueError("pass assets or streams, not both")
    if assets is not None:
        targets = _targets_from_assets(assets)
        if not targets:
            raise ValueError("none of the given assets is an Aha! record stream asset")
    else:
        names = list(streams if streams is not None else DEFAULT_STREAMS)
        unknown = [s for s in names if s not in STREAMS]
        if unknown:
            raise ValueError(f"Unknown Aha! stream(s) {unknown}; known: {', '.join(STREAMS)}")
        targets = [_Target(dg.AssetKey([*key_prefix, s]), s, None) for s in names]
    keys = [t.key for t in targets]

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        asset_selection=keys,
        required_resource_keys={resource_key},
        default_status=default_status,
        description=(
            "Polls the Aha! audit feed and materializes only the streams (and product "
            f"partitions) that changed: {', '.join(sorted({t.stream for t in targets}))}."
        ),
    )
    def _aha_change_sensor(
        context: dg.SensorEvaluationContext, **_direct_call_resources: Any
    ) -> dg.SensorResult:
        started = time.monotonic()
        resource = getattr(context.resources, resource_key)
        client: AhaClient = resource.get_client()
        per_minute = float(getattr(resource, "requests_per_minute", 300) or 300)
        max_requests = max(
            1, math.floor(rate_budget_share * per_minute * minimum_interval_seconds / 60)
        )
        if max_requests_per_tick is not None:
            max_requests = min(max_requests, max_requests_per_tick)
        cursor = _load_cursor(context, initial_lookback)
        poll = poll_audits(
            client,
            cursor,
            max_requests=max_requests,
            deadline=started + time_budget_seconds,
            overlap=overlap,
        )
        if not poll.complete:
            context.log.warning(
                f"Aha! audit feed: stopped after {poll.requests} request(s) (budget "
                f"{max_requests}, {time_budget_seconds:.0f} s; pages {poll.order}); the rest is "
                "read on the next tick"
            )
        run_requests = _run_requests(
            context,
            client,
            targets,
            poll.audits,
            name=name,
            budget_left=max_requests - poll.requests,
        )
        new_cursor = poll.cursor.serialize()
        if not run_requests:
            return dg.SensorResult(
                skip_reason=(
                    f"No change in the Aha! streams of this sensor ({len(poll.audits)} new "
                    f"audit(s), {poll.requests} request(s))"
                ),
                cursor=new_cursor,
            )
        context.log.info(
            f"{len(poll.audits)} new Aha! audit(s) -> {len(run_requests)} run(s), "
            f"{poll.requests} request(s)"
        )
        return dg.SensorResult(run_requests=run_requests, cursor=new_cursor)

    return _aha_change_sensor


def _load_cursor(context: dg.SensorEvaluationContext, initial_lookback: timedelta) -> AuditCursor:
    if context.cursor:
        try:
            return AuditCursor.deserialize(context.cursor)
        except ValueError as e:
            context.log.warning(f"{e}; starting from the last {initial_lookback}")
    return AuditCursor(since=datetime.now(timezone.utc) - initial_lookback)


def _run_requests(
    context: dg.SensorEvaluationContext,
    client: AhaClient,
    targets: Sequence[_Target],
    audits: Sequence[Mapping[str, Any]],
    *,
    name: str,
    budget_left: int,
) -> list[dg.RunRequest]:
    if not audits:
        return []
    by_stream = {t.stream: t for t in targets}
    unpartitioned: dict[dg.AssetKey, set[str]] = {}
    partitioned: dict[str, dict[dg.AssetKey, set[str]]] = {}
    products: dict[str, set[str]] | None = None  # hint -> {id, prefix}, listed at most once
    for audit in audits:
        audit_id = str(audit["id"])
        changed = streams_for_audits([audit])
        if "audits" in by_stream:
            changed.add("audits")
        for stream in sorted(changed & set(by_stream)):
            target = by_stream[stream]
            if target.partitions_def is None:
                unpartitioned.setdefault(target.key, set()).add(audit_id)
                continue
            all_keys = _partition_keys(target.partitions_def, context.instance)
            hints = _product_hints(audit)
            chosen = [k for k in all_keys if k in hints]
            if not chosen and hints and budget_left > 0:
                if products is None:
                    products = _product_aliases(client)
                aliases = set().union(*(products.get(h, {h}) for h in hints))
                chosen = [k for k in all_keys if k in aliases]
            for key in chosen or all_keys:
                partitioned.setdefault(key, {}).setdefault(target.key, set()).add(audit_id)
    requests: list[dg.RunRequest] = []
    if unpartitioned:
        ids = set().union(*unpartitioned.values())
        requests.append(
            dg.RunRequest(
                run_key=f"{name}:{_digest(ids)}",
                asset_selection=sorted(unpartitioned, key=lambda k: k.to_user_string()),
                tags={"dagster_aha/change_audits": str(len(ids))},
            )
        )
    for partition_key in sorted(partitioned):
        selected = partitioned[partition_key]
        ids = set().union(*selected.values())
        requests.append(
            dg.RunRequest(
                run_key=f"{name}:{_digest(ids)}:{partition_key}",
                asset_selection=sorted(selected, key=lambda k: k.to_user_string()),
                partition_key=partition_key,
                tags={"dagster_aha/change_audits": str(len(ids))},
            )
        )
    return requests


def _product_aliases(client: AhaClient) -> dict[str, set[str]]:
    """``{id: {id, prefix}, prefix: {id, prefix}}`` for every product (one cheap listing)."""
    out: dict[str, set[str]] = {}
    for product in client.iter_records(
        "products", fields=["id", "reference_prefix"], record_key="products"
    ):
        names = {str(v) for v in (product.get("id"), product.get("reference_prefix")) if v}
        for n in names:
            out[n] = names
    return out
