"""Write-side fault matrix: creates, updates and deletes under seeded random fault schedules.

Invariants checked on every run:

* exactly one outcome per input record, in input order;
* no create is applied twice: at most one POST per record that was not answered 429 (a 429 is
  a refusal, so re-sending after it is safe), and 0 duplicates in the sandbox;
* without ``match_on`` every record whose create may have happened (or did happen) is reported
  ``created`` or ``ambiguous``, never ``failed``, and an ambiguous create is never re-sent;
* with ``match_on``: 0 duplicates after the run and after a full re-run, and a clean re-run
  ends with every record exactly once.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest

from dagster_aha.destinations import AhaDestination, FromField, WriteReport, write_records
from dagster_aha.testing import AhaSandbox, Fault, RequestRecord

from .conftest import FAST_CLIENT, FAST_SANDBOX, FIGURES, SLOW_DELAY, record_faults

pytestmark = pytest.mark.faults

SANDBOX_DATA: dict[str, Any] = {"products": 1, "releases_per_product": 1, "features_per_release": 2}
RELEASE = "PRJ1-R-1"
N_RECORDS = 30
SEEDS = range(6)
#: Outcomes whose create may have been applied.
MAYBE_CREATED = {"created", "updated", "skipped", "ambiguous"}


def write_faults(seed: int, method: str) -> list[Fault]:
    """A seeded schedule over every write fault kind, ``reset_after`` included (~45%)."""
    rng = random.Random(f"writes:{seed}:{method}")

    def p() -> float:
        return rng.uniform(0.03, 0.06)

    return [
        Fault("429", method=method, times=rng.randint(2, 4), after=rng.randint(0, 5)),
        Fault("slow", method=method, probability=0.03, delay=SLOW_DELAY),
        *(
            Fault(kind, method=method, probability=p())
            for kind in (
                "429",
                "500",
                "502",
                "503",
                "504",
                "html",
                "malformed_json",
                "reset_before",
                "reset_after",
            )
        ),
    ]


def read_faults(seed: int) -> list[Fault]:
    """Faults on the look-ups (listing and re-checks) of an upsert run."""
    rng = random.Random(f"writes-get:{seed}")
    return [
        Fault(kind, method="GET", probability=rng.uniform(0.03, 0.08))
        for kind in ("429", "500", "503", "html", "malformed_json", "reset_before")
    ]


def feature_dest(**kw: Any) -> AhaDestination:
    return AhaDestination(
        template="create_feature",
        path_params={"release_id": RELEASE},
        custom_fields={"ext": "external_id"},
        **kw,
    )


def records_for(seed: int) -> list[dict[str, Any]]:
    return [{"name": f"S{seed} item {i}", "ext": f"s{seed}-{i}"} for i in range(N_RECORDS)]


def ext_counts(aha: AhaSandbox) -> Counter[str]:
    """External ids of the features stored in the sandbox (duplicates show as counts > 1)."""
    return aha.state.custom_field_counts("features", "external_id")


def post_ext(r: RequestRecord) -> str | None:
    body = r.json
    if not isinstance(body, dict) or not isinstance(body.get("feature"), dict):
        return None
    cfs = body["feature"].get("custom_fields")
    return str(cfs["external_id"]) if isinstance(cfs, dict) and "external_id" in cfs else None


def write(aha: AhaSandbox, dest: AhaDestination, records: list[Any]) -> WriteReport:
    with aha.client(**FAST_CLIENT) as client:
        report = write_records(client, dest, records, max_concurrency=4)
    # a `slow` request is applied by the server after the client gave up: let it land
    time.sleep(SLOW_DELAY + 0.05)
    return report


def assert_one_outcome_each(report: WriteReport, records: list[Any]) -> None:
    assert [o.index for o in report.outcomes] == list(range(len(records)))
    FIGURES.add("records_checked", len(records))


def assert_no_duplicates(aha: AhaSandbox) -> Counter[str]:
    counts = ext_counts(aha)
    dupes = {k: n for k, n in counts.items() if n > 1}
    FIGURES.add("duplicates_found", len(dupes))
    assert dupes == {}, f"duplicated records in the sandbox: {dupes}"
    return counts


@pytest.mark.parametrize("seed", SEEDS)
def test_creates_without_match_on(seed: int, request: pytest.FixtureRequest) -> None:
    records = records_for(seed)
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, seed=seed) as aha:
        aha.set_faults(write_faults(seed, "POST"))
        report = write(aha, feature_dest(), records)
        assert record_faults(request, aha) > 0
        assert_one_outcome_each(report, records)
        in_sandbox = assert_no_duplicates(aha)

        posts: dict[str, list[RequestRecord]] = {}
        for r in aha.requests:
            if r.method == "POST":
                posts.setdefault(post_ext(r) or "?", []).append(r)
        for rec, outcome in zip(records, report.outcomes, strict=True):
            ext = rec["ext"]
            sent = [r for r in posts.get(ext, []) if r.status != 429]
            # never re-sent: at most one POST the server may have applied
            assert len(sent) <= 1, (ext, [(r.status, r.fault) for r in sent])
            assert outcome.status in {"created", "failed", "ambiguous"}
            if in_sandbox[ext]:
                # the create happened: the report must not call it failed
                assert outcome.status in {"created", "ambiguous"}, (ext, outcome)
            if outcome.status == "created":
                assert in_sandbox[ext] == 1 and outcome.aha_id is not None
                stored = aha.state.get("features", outcome.aha_id)
                assert stored is not None and stored["name"] == rec["name"]
            if outcome.status == "failed":
                assert in_sandbox[ext] == 0, outcome
                assert outcome.error
            if sent and sent[0].fault in {"reset_before", "reset_after", "slow", "malformed_json"}:
                assert outcome.status == "ambiguous", (ext, sent[0].fault, outcome)
                assert not outcome.retryable  # a blind replay could duplicate it
        faults_seen = {r.fault for r in aha.requests if r.fault}
        assert {"reset_after", "500"} & faults_seen


@pytest.mark.parametrize("seed", SEEDS)
def test_creates_with_match_on_no_duplicates_after_run_and_rerun(
    seed: int, request: pytest.FixtureRequest
) -> None:
    records = records_for(seed)
    dest = feature_dest(match_on="custom_fields.external_id")
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, seed=seed) as aha:
        aha.set_faults(write_faults(seed, "POST") + write_faults(seed, "PUT") + read_faults(seed))
        first = write(aha, dest, records)
        assert_one_outcome_each(first, records)
        assert_no_duplicates(aha)
        for o in first.outcomes:
            assert o.status in {"created", "updated", "failed", "ambiguous"}
            if o.status in {"failed", "ambiguous"}:
                assert o.retryable or o.http_status in (400, 422), o

        # a full re-run under the same kind of faults: still no duplicate
        aha.set_faults(write_faults(seed + 100, "POST") + read_faults(seed + 100))
        second = write(aha, dest, records)
        assert_one_outcome_each(second, records)
        assert_no_duplicates(aha)
        record_faults(request, aha)

        # a clean re-run: every record exactly once, nothing created twice
        aha.set_faults([])
        third = write(aha, dest, records)
        assert third.ok, third.summary()
        counts = assert_no_duplicates(aha)
        assert {r["ext"] for r in records} <= set(counts)
        assert all(counts[r["ext"]] == 1 for r in records)


def _seed_epics(aha: AhaSandbox, n: int) -> list[str]:
    release = aha.state.get("releases", RELEASE)
    assert release is not None
    return [
        str(aha.state.create("epics", {"name": f"epic {i}"}, parent=release)["id"])
        for i in range(n)
    ]


@pytest.mark.parametrize("seed", SEEDS)
def test_updates_under_faults(seed: int, request: pytest.FixtureRequest) -> None:
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, seed=seed) as aha:
        ids = _seed_epics(aha, N_RECORDS)
        dest = AhaDestination(
            template="update_epic", path_params={"epic_id": FromField(from_field="id")}
        )
        records = [{"id": i, "name": f"renamed {i}"} for i in ids]
        aha.set_faults(write_faults(seed, "PUT"))
        report = write(aha, dest, records)
        assert record_faults(request, aha) > 0
        assert_one_outcome_each(report, records)
        puts = Counter(r.path for r in aha.requests if r.method == "PUT")
        for rec, o in zip(records, report.outcomes, strict=True):
            stored = aha.state.get("epics", rec["id"])
            assert stored is not None
            assert o.status in {"updated", "failed", "ambiguous"}, o
            if o.status == "updated":
                assert stored["name"] == rec["name"] and o.aha_id == rec["id"]
            if o.status == "failed":
                assert o.error and o.retryable, o
            assert puts[f"epics/{rec['id']}"] >= 1
        assert aha.state.count("epics") >= N_RECORDS  # an update never creates or deletes


@pytest.mark.parametrize("seed", SEEDS)
def test_deletes_under_faults(seed: int, request: pytest.FixtureRequest) -> None:
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, seed=seed) as aha:
        ids = _seed_epics(aha, N_RECORDS)
        keep = aha.state.count("epics") - N_RECORDS
        dest = AhaDestination(
            template="delete_epic",
            path_params={"epic_id": FromField(from_field="id")},
            allow_delete=True,
        )
        records = [{"id": i} for i in ids]
        aha.set_faults(write_faults(seed, "DELETE"))
        report = write(aha, dest, records)
        assert record_faults(request, aha) > 0
        assert_one_outcome_each(report, records)
        for rec, o in zip(records, report.outcomes, strict=True):
            gone = aha.state.get("epics", rec["id"]) is None
            assert o.status in {"deleted", "skipped", "failed", "ambiguous"}, o
            if o.status in {"deleted", "skipped"}:
                assert gone, o
            if o.status == "failed":
                assert o.retryable, o
        # only the targeted epics can have gone
        assert aha.state.count("epics") >= keep
