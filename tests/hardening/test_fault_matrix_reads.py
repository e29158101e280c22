"""Read-side fault matrix: every stream and both pivot views under seeded random fault schedules.

Each extraction must return exactly the sandbox's truth (0 missing, 0 duplicated ids), or raise
a typed :class:`AhaError` when the retry budget is exhausted: never a silently short result.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest

from dagster_aha.client import (
    AhaClient,
    AhaConnectionError,
    AhaError,
    AhaRateLimitError,
    AhaResponseError,
    AhaServerError,
    AhaTimeoutError,
)
from dagster_aha.sources import aha_custom_table_asset, aha_pivot_report_asset, build_aha_assets
from dagster_aha.sources.streams import (
    DEFAULT_STREAMS,
    STREAMS,
    custom_table_stream,
    resolve_fields,
)
from dagster_aha.testing import AhaSandbox, Fault

from .conftest import FAST_CLIENT, FAST_SANDBOX, FIGURES, SLOW_DELAY, record_faults

pytestmark = pytest.mark.faults

SANDBOX_DATA: dict[str, Any] = {"products": 2, "releases_per_product": 2, "features_per_release": 6}
PER_PAGE = 3  # many small pages: many requests, many chances for a fault to land mid-list
SEEDS = range(8)

Reader = Callable[[AhaClient, AhaSandbox], list[Any]]


@dataclass(frozen=True)
class Target:
    name: str
    read: Reader  # ids (record streams) or flattened rows (pivot reports)
    truth: Reader  # the expected result, computed from the sandbox state or a clean read
    by_id: bool = True


def _stream_reader(name: str) -> Reader:
    stream = STREAMS[name]
    fields = list(resolve_fields(stream, None))

    def read(client: AhaClient, aha: AhaSandbox) -> list[Any]:
        if stream.account_path is not None:
            paths = [stream.account_path]
        else:
            paths = [stream.product_path(p["id"]) for p in aha.state.records("products")]
        return [
            str(rec["id"])
            for path in paths
            for rec in client.iter_records(
                path, fields=fields, record_key=stream.record_key, per_page=PER_PAGE
            )
        ]

    return read


def _state_ids(kind: str) -> Reader:
    return lambda _client, aha: [str(r["id"]) for r in aha.state.records(kind)]


def _first_product(aha: AhaSandbox) -> str:
    return str(aha.state.records("products")[0]["id"])


def _read_custom_table(client: AhaClient, aha: AhaSandbox) -> list[Any]:
    stream = custom_table_stream(_first_product(aha), "customers", name="customers")
    assert stream.account_path is not None
    return [
        str(rec["id"])
        for rec in client.iter_records(
            stream.account_path,
            fields=list(resolve_fields(stream, None)),
            record_key=stream.record_key,
            per_page=2,
        )
    ]


def _custom_table_truth(_client: AhaClient, aha: AhaSandbox) -> list[Any]:
    pid = _first_product(aha)
    return [
        str(r["id"])
        for r in aha.state.records("custom_object_records")
        if r["product_id"] == pid and r["key"] == "customers"
    ]


def _pivot_reader(view: str) -> Reader:
    def read(client: AhaClient, aha: AhaSandbox) -> list[Any]:
        report_id = sorted(aha.state.reports)[0]
        report = client.get_pivot_report(
            report_id,
            view="list" if view == "list" else "pivot",
            per_page=PER_PAGE,
        )
        return report.to_rows(value="plain")

    return read


def _clean_read(reader: Reader) -> Reader:
    """The truth of a pivot report: the same read on a fault-free sandbox."""

    def truth(_client: AhaClient, aha: AhaSandbox) -> list[Any]:
        with (
            AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, seed=aha.seed) as clean,
            clean.client(**FAST_CLIENT) as c,
        ):
            return reader(c, clean)

    return truth


TARGETS = [Target(name, _stream_reader(name), _state_ids(name)) for name in DEFAULT_STREAMS] + [
    Target("custom_table_records", _read_custom_table, _custom_table_truth),
    Target("pivot_list", _pivot_reader("list"), _clean_read(_pivot_reader("list")), by_id=False),
    Target("pivot_view", _pivot_reader("pivot"), _clean_read(_pivot_reader("pivot")), by_id=False),
]


def fault_schedule(seed: int) -> list[Fault]:
    """A seeded random schedule over every read fault kind (about 40% of requests fail)."""
    rng = random.Random(f"reads:{seed}")
    storm = rng.randint(2, 5)
    return [
        # a 429 storm: several consecutive rate-limited answers early in the run
        Fault("429", method="GET", times=storm, after=rng.randint(0, 3)),
        Fault("slow", method="GET", probability=0.03, delay=SLOW_DELAY),
        Fault("429", method="GET", probability=rng.uniform(0.04, 0.08)),
        Fault("500", method="GET", probability=rng.uniform(0.04, 0.08)),
        Fault("502", method="GET", probability=rng.uniform(0.04, 0.08)),
        Fault("503", method="GET", probability=rng.uniform(0.04, 0.08)),
        Fault("504", method="GET", probability=rng.uniform(0.03, 0.06)),
        Fault("html", method="GET", probability=rng.uniform(0.04, 0.08)),
        Fault("malformed_json", method="GET", probability=rng.uniform(0.04, 0.08)),
        Fault("reset_before", method="GET", probability=rng.uniform(0.04, 0.08)),
    ]


_OUTCOMES: Counter[str] = Counter()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_read_under_faults_is_exact_or_raises_typed(
    target: Target, seed: int, request: pytest.FixtureRequest
) -> None:
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, seed=seed) as aha:
        with aha.client(**FAST_CLIENT) as clean_client:
            expected = target.truth(clean_client, aha)
        assert expected, "the sandbox must hold data for this target"
        aha.set_faults(fault_schedule(seed))
        aha.clear_requests()
        with aha.client(**FAST_CLIENT) as client:
            try:
                got = target.read(client, aha)
            except AhaError as exc:
                # the retry budget ran out: a typed error, never a short result
                assert isinstance(
                    exc,
                    AhaServerError
                    | AhaTimeoutError
                    | AhaConnectionError
                    | AhaRateLimitError
                    | AhaResponseError,
                ), repr(exc)
                _OUTCOMES["raised"] += 1
                record_faults(request, aha)
                return
        injected = record_faults(request, aha)
        assert injected > 0, "the schedule injected no fault"
        _OUTCOMES["exact"] += 1
        if target.by_id:
            dupes = [i for i, n in Counter(got).items() if n > 1]
            FIGURES.add("duplicates_found", len(dupes))
            assert dupes == [], f"duplicated ids: {dupes}"
            missing = set(expected) - set(got)
            assert missing == set(), f"missing ids: {sorted(missing)}"
            assert set(got) == set(expected)
        else:
            assert got == expected, "pivot rows differ from a fault-free read"
        FIGURES.add("records_checked", len(got))


def test_most_extractions_complete_despite_the_faults() -> None:
    """The retry budget (8) is meant to absorb these schedules: raising is the exception."""
    total = _OUTCOMES["exact"] + _OUTCOMES["raised"]
    if total < len(TARGETS) * len(SEEDS):
        pytest.skip("only part of the read matrix ran")
    assert _OUTCOMES["exact"] >= 0.9 * total, dict(_OUTCOMES)


# ---- the retry budget exhausted: each fault kind gives its own typed error --------------


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("429", AhaRateLimitError),
        ("500", AhaServerError),
        ("502", AhaServerError),
        ("503", AhaServerError),
        ("html", AhaServerError),
        ("504", AhaTimeoutError),
        ("reset_before", AhaConnectionError),
        ("slow", AhaTimeoutError),
        ("malformed_json", AhaResponseError),
    ],
)
def test_exhausted_budget_raises_typed_error_never_a_short_list(
    kind: str, error: type[AhaError], request: pytest.FixtureRequest
) -> None:
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA) as aha:
        # page 1 is served, every later request fails: a short list would be easy to return
        delay = SLOW_DELAY if kind == "slow" else None
        aha.set_faults([Fault(kind, method="GET", path="features", after=1, delay=delay)])
        got: list[dict[str, Any]] = []
        with (
            aha.client(**{**FAST_CLIENT, "max_retries": 2}) as client,
            pytest.raises(error) as info,
        ):
            got.extend(client.iter_records("features", record_key="features", per_page=4))
        record_faults(request, aha)
        assert len(got) < aha.state.count("features")
        assert info.value.url is not None and "/api/v1/features" in info.value.url
        assert info.value.method == "GET"


# ---- the Dagster assets end to end ---------------------------------------------------------


@pytest.mark.parametrize("seed", [11, 12])
def test_assets_materialize_the_exact_records_under_faults(
    seed: int, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_aha_assets + custom table + both pivot views, materialized through AhaResource."""
    # the resource's client uses the default backoff (0.5 s base): make the retries instant
    monkeypatch.setattr(AhaClient, "_backoff", lambda self, attempt: 0.0)
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, seed=seed) as aha:
        with aha.client(**FAST_CLIENT) as clean_client:
            expected_pivots = {
                view: _clean_read(_pivot_reader(view))(clean_client, aha)
                for view in ("list", "pivot")
            }
            expected_table = sorted(_custom_table_truth(clean_client, aha))
        report_id = sorted(aha.state.reports)[0]
        product = _first_product(aha)
        assets = [
            *build_aha_assets(streams=list(DEFAULT_STREAMS), incremental=False),
            aha_custom_table_asset(product, "customers", name="customers"),
            aha_pivot_report_asset(report_id, name="pivot_list", view="list"),
            aha_pivot_report_asset(report_id, name="pivot_view", view="pivot"),
        ]
        resource = aha.resource(
            timeout=FAST_CLIENT["timeout"],
            max_retries=FAST_CLIENT["max_retries"],
            per_page=PER_PAGE,
            requests_per_second=FAST_CLIENT["requests_per_second"],
            requests_per_minute=FAST_CLIENT["requests_per_minute"],
        )
        aha.set_faults(fault_schedule(seed))
        result = dg.materialize(assets, resources={"aha": resource})
        assert record_faults(request, aha) > 0
        assert result.success
        for name in DEFAULT_STREAMS:
            rows = result.asset_value(dg.AssetKey(["aha", name]))
            ids = [str(r["id"]) for r in rows]
            truth = {str(r["id"]) for r in aha.state.records(name)}
            assert len(ids) == len(set(ids)) and set(ids) == truth, name
            FIGURES.add("records_checked", len(ids))
        rows = result.asset_value(dg.AssetKey(["aha", "customers"]))
        assert sorted(str(r["id"]) for r in rows) == expected_table
        assert result.asset_value(dg.AssetKey(["aha", "pivot_list"])) == expected_pivots["list"]
        assert result.asset_value(dg.AssetKey(["aha", "pivot_view"])) == expected_pivots["pivot"]
