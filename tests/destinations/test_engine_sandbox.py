"""The write engine against the sandbox: faults, upserts without duplicates, pacing, checks."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from dagster_aha.destinations import AhaDestination, check_destination, write_records
from dagster_aha.testing import AhaSandbox, Fault

RELEASE = "PRJ1-R-1"


def feature_dest(**kw: Any) -> AhaDestination:
    return AhaDestination(
        template="create_feature",
        path_params={"release_id": RELEASE},
        custom_fields={"ext": "external_id"},
        **kw,
    )


def upsert_dest(**kw: Any) -> AhaDestination:
    return feature_dest(match_on="custom_fields.external_id", **kw)


def ext_ids(aha: AhaSandbox) -> Counter[str]:
    """External ids of the features stored in the sandbox (duplicates show as counts > 1)."""
    return aha.state.custom_field_counts("features", "external_id")


def posts(aha: AhaSandbox) -> list[Any]:
    return [r for r in aha.requests if r.method == "POST"]


def write(aha: AhaSandbox, dest: AhaDestination, records: list[Any], **client_kw: Any) -> Any:
    with aha.client(**client_kw) as client:
        return write_records(client, dest, records)


def test_outcomes_are_in_input_order_under_concurrency(aha_sandbox: AhaSandbox) -> None:
    records = [{"name": f"F{i}", "ext": f"e{i}"} for i in range(40)]
    report = write(aha_sandbox, feature_dest(max_concurrency=8), records)
    assert [o.index for o in report.outcomes] == list(range(40))
    names = [aha_sandbox.state.get("features", o.aha_id)["name"] for o in report.outcomes]  # type: ignore[index]
    assert names == [f"F{i}" for i in range(40)]
    assert report.counts["created"] == 40 and report.ok
    assert report.requests == 40 and report.http_attempts == 40


@pytest.mark.parametrize("status", ["502", "504"])
def test_post_gateway_error_is_ambiguous_and_not_resent(
    aha_sandbox: AhaSandbox, status: str
) -> None:
    """502/504 come from a gateway: Aha! behind it may have applied the create."""
    aha_sandbox.set_faults([Fault(status, method="POST", times=1)])
    report = write(aha_sandbox, feature_dest(max_concurrency=1), [{"name": "A"}, {"name": "B"}])
    assert [o.status for o in report.outcomes] == ["ambiguous", "created"]
    assert report.outcomes[0].http_status == int(status)
    assert not report.ok and len(posts(aha_sandbox)) == 2  # one POST each, none re-sent


def test_post_502_with_match_on_is_ambiguous_then_the_next_run_creates_once(
    aha_sandbox: AhaSandbox,
) -> None:
    """Absence right after a lost create proves nothing (the backend may still commit): the
    create is never re-sent in the run; the next run's listing decides."""
    aha_sandbox.set_faults([Fault("502", method="POST", times=1)])
    report = write(aha_sandbox, upsert_dest(max_concurrency=1), [{"name": "A", "ext": "x-1"}])
    (o,) = report.outcomes
    assert o.status == "ambiguous" and o.retryable and o.http_status == 502
    assert len(posts(aha_sandbox)) == 1 and ext_ids(aha_sandbox)["x-1"] == 0
    again = write(aha_sandbox, upsert_dest(max_concurrency=1), report.retryable_records())
    assert [o.status for o in again.outcomes] == ["created"]
    assert len(posts(aha_sandbox)) == 2 and ext_ids(aha_sandbox)["x-1"] == 1


def test_post_504_with_match_on_is_not_resent_after_an_empty_look_up(
    aha_sandbox: AhaSandbox,
) -> None:
    """A gateway timeout may still be applied later: absence now proves nothing."""
    aha_sandbox.set_faults([Fault("504", method="POST", times=1)])
    report = write(aha_sandbox, upsert_dest(max_concurrency=1), [{"name": "A", "ext": "x-2"}])
    assert [o.status for o in report.outcomes] == ["ambiguous"]
    assert report.outcomes[0].retryable  # match_on makes the replay safe
    assert len(posts(aha_sandbox)) == 1


@pytest.mark.parametrize("status", ["500", "503"])
def test_post_500_or_503_is_ambiguous_and_not_resent(aha_sandbox: AhaSandbox, status: str) -> None:
    """A server error on a create may come after the record was committed."""
    aha_sandbox.set_faults([Fault(status, method="POST", times=1)])
    report = write(aha_sandbox, feature_dest(max_concurrency=1), [{"name": "A"}, {"name": "B"}])
    assert [o.status for o in report.outcomes] == ["ambiguous", "created"]
    assert report.outcomes[0].http_status == int(status) and not report.outcomes[0].retryable
    assert len(posts(aha_sandbox)) == 2
    assert report.retryable_records() == []  # without match_on a replay could duplicate


def test_put_5xx_is_retried_by_the_client(aha_sandbox: AhaSandbox) -> None:
    aha_sandbox.set_faults([Fault("503", method="PUT", times=2)])
    dest = AhaDestination(template="update_epic", path_params={"epic_id": "PRJ1-E-1"})
    report = write(aha_sandbox, dest, [{"name": "after retries"}])
    assert report.outcomes[0].status == "updated"
    assert report.http_attempts == 3 and report.requests == 1
    assert aha_sandbox.state.get("epics", "PRJ1-E-1")["name"] == "after retries"  # type: ignore[index]


def test_429_is_waited_out_not_failed(aha_sandbox: AhaSandbox) -> None:
    aha_sandbox.set_faults([Fault("429", method="POST", times=1)])
    report = write(aha_sandbox, feature_dest(max_concurrency=1), [{"name": "A"}])
    assert report.outcomes[0].status == "created"
    assert report.rate_limited == 1
    assert ext_ids(aha_sandbox) == Counter()  # no external id given
    assert sum(1 for f in aha_sandbox.state.records("features") if f["name"] == "A") == 1


def test_reset_after_post_is_ambiguous_and_never_resent(aha_sandbox: AhaSandbox) -> None:
    aha_sandbox.set_faults([Fault("reset_after", method="POST", times=1)])
    report = write(aha_sandbox, feature_dest(max_concurrency=1), [{"name": "Lost", "ext": "L1"}])
    (o,) = report.outcomes
    assert o.status == "ambiguous" and "not re-sent" in (o.error or "")
    assert not o.retryable and not report.ok
    assert len(posts(aha_sandbox)) == 1
    # The write was applied: a blind retry would have made a duplicate.
    assert ext_ids(aha_sandbox)["L1"] == 1
    assert report.failed_records() == [{"name": "Lost", "ext": "L1"}]


def test_match_on_resolves_a_lost_response_to_created(aha_sandbox: AhaSandbox) -> None:
    aha_sandbox.set_faults([Fault("reset_after", method="POST", times=1)])
    report = write(aha_sandbox, upsert_dest(), [{"name": "Lost", "ext": "L1"}])
    (o,) = report.outcomes
    assert o.status == "created" and o.aha_id is not None
    assert aha_sandbox.state.get("features", o.aha_id)["name"] == "Lost"  # type: ignore[index]
    assert len(posts(aha_sandbox)) == 1
    assert ext_ids(aha_sandbox)["L1"] == 1


def test_match_on_lost_create_is_created_by_the_next_run_once(aha_sandbox: AhaSandbox) -> None:
    # reset_before: the request never reached the state, but the client cannot know that.
    aha_sandbox.set_faults([Fault("reset_before", method="POST", times=1)])
    report = write(aha_sandbox, upsert_dest(), [{"name": "Retry me", "ext": "R1"}])
    (o,) = report.outcomes
    assert o.status == "ambiguous" and o.retryable
    assert len(posts(aha_sandbox)) == 1
    again = write(aha_sandbox, upsert_dest(), [{"name": "Retry me", "ext": "R1"}])
    assert again.outcomes[0].status == "created"
    assert len(posts(aha_sandbox)) == 2
    assert ext_ids(aha_sandbox)["R1"] == 1


def test_match_on_update_skip_and_same_key_in_one_batch(aha_sandbox: AhaSandbox) -> None:
    first = write(aha_sandbox, upsert_dest(), [{"name": "v1", "ext": "K1"}])
    assert first.outcomes[0].status == "created"
    created_id = first.outcomes[0].aha_id
    aha_sandbox.clear_requests()

    records = [
        {"name": "v2", "ext": "K1"},  # exists -> update
        {"name": "new", "ext": "K2"},  # new -> create
        {"name": "other", "ext": "K3"},  # K3 twice in one input: which one is right?
        {"name": "other again", "ext": "K3"},
    ]
    report = write(aha_sandbox, upsert_dest(), records)
    assert [o.status for o in report.outcomes] == ["updated", "created", "failed", "failed"]
    assert all("duplicate key in input" in (o.error or "") for o in report.outcomes[2:])
    assert report.outcomes[0].aha_id == created_id
    assert report.outcomes[0].request is not None
    assert report.outcomes[0].request["method"] == "PUT"
    assert report.outcomes[0].request["path"] == f"features/{created_id}"
    assert aha_sandbox.state.get("features", created_id)["name"] == "v2"  # type: ignore[arg-type,index]
    assert ext_ids(aha_sandbox) == Counter({"K1": 1, "K2": 1})
    # One listing of the scope for the whole run.
    lists = [r for r in aha_sandbox.requests if r.method == "GET"]
    assert [r.path for r in lists] == [f"releases/{RELEASE}/features"]
    assert lists[0].query["fields"] == "id,reference_num,name,custom_fields,url"

    skip = write(aha_sandbox, upsert_dest(on_match="skip"), [{"name": "v3", "ext": "K1"}])
    assert skip.outcomes[0].status == "skipped" and skip.outcomes[0].aha_id == created_id
    assert skip.ok


def test_match_on_missing_key_fails_the_record(aha_sandbox: AhaSandbox) -> None:
    report = write(aha_sandbox, upsert_dest(), [{"name": "no key"}, {"name": "ok", "ext": "X"}])
    assert [o.status for o in report.outcomes] == ["failed", "created"]
    assert "upsert key" in (report.outcomes[0].error or "")


def test_match_on_other_templates_use_their_update_endpoint(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(
        template="create_goal", path_params={"product_id": "PRJ1"}, match_on="name"
    )
    existing = aha_sandbox.state.get("goals", "PRJ1-G-1")
    assert existing is not None
    report = write(aha_sandbox, dest, [{"name": existing["name"], "effort": 7}, {"name": "G new"}])
    assert [o.status for o in report.outcomes] == ["updated", "created"]
    assert report.outcomes[0].request is not None
    assert report.outcomes[0].request["path"] == f"products/PRJ1/goals/{existing['id']}"
    assert aha_sandbox.state.get("goals", "PRJ1-G-1")["effort"] == 7  # type: ignore[index]


def test_listing_failure_creates_nothing(aha_sandbox: AhaSandbox) -> None:
    aha_sandbox.set_faults([Fault("500", method="GET")])
    report = write(aha_sandbox, upsert_dest(), [{"name": "A", "ext": "A"}], max_retries=1)
    (o,) = report.outcomes
    assert o.status == "failed" and o.retryable and "nothing was created" in (o.error or "")
    assert posts(aha_sandbox) == []


@pytest.mark.aha_sandbox(features_per_release=3, products=1, releases_per_product=1)
def test_1000_records_with_faults_no_duplicates_and_a_clean_rerun(
    aha_sandbox: AhaSandbox,
) -> None:
    aha_sandbox.set_faults(
        [
            Fault("reset_after", method="POST", probability=0.02),
            Fault("reset_before", method="POST", probability=0.01),
            Fault("500", method="POST", probability=0.01),
            Fault("429", times=1),
            Fault("503", method="GET", probability=0.05),
            Fault("502", method="PUT", probability=0.05),
        ]
    )
    records = [{"name": f"Item {i}", "ext": f"ext-{i}"} for i in range(1000)]
    t0 = time.monotonic()
    report = write(aha_sandbox, upsert_dest(max_concurrency=8), records)
    elapsed = time.monotonic() - t0
    counts = report.counts
    print(f"\n1,000-record run with faults: {counts} in {elapsed:.1f}s, {report.requests} calls")
    assert sum(counts.values()) == 1000
    assert counts["created"] >= 900
    # What did not succeed is accounted for and safe to replay (match_on).
    assert all(o.retryable for o in report.failed_outcomes())
    assert max(ext_ids(aha_sandbox).values()) == 1

    # Replay only what failed, then re-run the whole batch: still zero duplicates.
    retry = write(aha_sandbox, upsert_dest(max_concurrency=8), report.retryable_records())
    assert max(ext_ids(aha_sandbox).values()) == 1
    aha_sandbox.set_faults([])
    rerun = write(aha_sandbox, upsert_dest(max_concurrency=8), records)
    assert rerun.counts["created"] == len(retry.failed_outcomes())
    # the records already in Aha! hold the values sent: unchanged, no request (diffing)
    assert rerun.counts["unchanged"] + rerun.counts["created"] == 1000
    ids = ext_ids(aha_sandbox)
    assert len(ids) == 1000 and max(ids.values()) == 1


@pytest.mark.aha_sandbox(
    enforce_rate_limits=True, requests_per_second=40, requests_per_minute=100_000
)
def test_writes_are_paced_by_the_shared_limiter(aha_sandbox: AhaSandbox) -> None:
    records = [{"name": f"P{i}"} for i in range(80)]
    t0 = time.monotonic()
    report = write(aha_sandbox, feature_dest(max_concurrency=8), records)
    elapsed = time.monotonic() - t0
    assert report.counts["created"] == 80
    # Paced by the shared limiter: at most a stray 429 at a window edge, never a storm.
    assert aha_sandbox.stats.rate_limited <= 2
    # 80 requests under a 40-per-second sliding window: 40 at once, the next 40 a second later
    assert elapsed >= 0.95


def test_check_destination_passes_without_writing(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(
        template="update_goal",
        path_params={"product_id": "PRJ1", "goal_id": {"from_field": "goal"}},
    )
    with aha_sandbox.client() as client:
        result = check_destination(client, dest, {"goal": "PRJ1-G-2", "name": "x"})
    assert result.ok, str(result)
    names = [c.name for c in result.checks]
    assert names == ["credentials", "record renders", "path param product_id", "path param goal_id"]
    assert result.sample is not None and result.sample["path"] == "products/PRJ1/goals/PRJ1-G-2"
    assert {r.method for r in aha_sandbox.requests} == {"GET"}
    assert [r.path for r in aha_sandbox.requests] == ["me", "products/PRJ1", "goals/PRJ1-G-2"]


def test_check_destination_reports_each_problem(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(
        template="create_custom_table_record",
        path_params={"product_id": "PRJ1", "custom_table_key": "no_such_table"},
    )
    with aha_sandbox.client() as client:
        result = check_destination(client, dest, ["not", "a", "record"])  # type: ignore[arg-type]
    assert not result.ok
    failed = {c.name: c.message for c in result.failures()}
    assert set(failed) == {"record renders", "path param custom_table_key"}
    assert "not a mapping" in failed["record renders"]
    bad_release = feature_dest()
    bad_release = AhaDestination(template="create_feature", path_params={"release_id": "NOPE-R-9"})
    with aha_sandbox.client() as client:
        result = check_destination(client, bad_release)
    assert [c.name for c in result.failures()] == ["path param release_id"]
    with aha_sandbox.client(api_key="wrong-key") as client:
        result = check_destination(client, bad_release)
    assert [c.name for c in result.checks] == ["credentials"] and not result.ok
    assert "wrong-key" not in str(result)
    assert all(r.method == "GET" for r in aha_sandbox.requests)
