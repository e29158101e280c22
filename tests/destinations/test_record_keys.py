"""Record identity: exact match keys, raw look-ups, duplicate keys, unverifiable listings."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from dagster_aha.destinations import AhaDestination, write_records
from dagster_aha.testing import AhaSandbox, Fault

RELEASE = "PRJ1-R-1"


def upsert_dest(**kw: Any) -> AhaDestination:
    return AhaDestination(
        template="create_feature",
        path_params={"release_id": RELEASE},
        custom_fields={"ext": "external_id"},
        match_on="custom_fields.external_id",
        **kw,
    )


def stored_keys(aha: AhaSandbox) -> Counter[Any]:
    out: Counter[Any] = Counter()
    for f in aha.state.records("features"):
        for cf in f.get("custom_fields") or []:
            if cf.get("key") == "external_id" and cf.get("value") is not None:
                out[repr(cf.get("value"))] += 1
    return out


def write(aha: AhaSandbox, dest: AhaDestination, records: list[Any]) -> Any:
    with aha.client() as client:
        return write_records(client, dest, records, max_concurrency=1)


def test_distinct_keys_that_normalise_alike_stay_distinct(aha_sandbox: AhaSandbox) -> None:
    records = [
        {"name": "a", "ext": "A"},
        {"name": "a space", "ext": "A "},
        {"name": "seven int", "ext": 7},
        {"name": "seven str", "ext": "7"},
    ]
    first = write(aha_sandbox, upsert_dest(), records)
    assert [o.status for o in first.outcomes] == ["created"] * 4
    assert stored_keys(aha_sandbox) == Counter({"'A'": 1, "'A '": 1, "7": 1, "'7'": 1})
    # a re-run matches every stored raw value exactly: 4 matches (holding the values sent, so
    # unchanged: no update request), nothing created
    second = write(aha_sandbox, upsert_dest(), records)
    assert [o.status for o in second.outcomes] == ["unchanged"] * 4
    assert sum(stored_keys(aha_sandbox).values()) == 4


def test_look_up_after_a_lost_create_sends_the_raw_value(aha_sandbox: AhaSandbox) -> None:
    aha_sandbox.set_faults([Fault("reset_after", method="POST", times=1)])
    report = write(aha_sandbox, upsert_dest(), [{"name": "spaced", "ext": "  K 1 "}])
    assert report.outcomes[0].status == "created"  # found by the targeted look-up
    lookups = [r for r in aha_sandbox.requests if r.method == "GET" and r.query.get("per_page")]
    assert lookups[-1].query["custom_fields[external_id]"] == "  K 1 "
    assert stored_keys(aha_sandbox) == Counter({"'  K 1 '": 1})


def test_duplicate_key_in_one_input_fails_each_record(aha_sandbox: AhaSandbox) -> None:
    records = [
        {"name": "one", "ext": "D"},
        {"name": "ok", "ext": "E"},
        {"name": "two", "ext": "D"},
    ]
    report = write(aha_sandbox, upsert_dest(), records)
    assert [o.status for o in report.outcomes] == ["failed", "created", "failed"]
    for o in (report.outcomes[0], report.outcomes[2]):
        assert "duplicate key in input" in (o.error or "") and not o.retryable
    assert stored_keys(aha_sandbox) == Counter({"'E'": 1})


def test_record_key_fields_and_content_hash_identity(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(
        template="create_feature", path_params={"release_id": RELEASE}, record_key="id"
    )
    report = write(aha_sandbox, dest, [{"id": 1, "name": "x"}, {"id": 1, "name": "y"}])
    assert [o.status for o in report.outcomes] == ["failed", "failed"]
    plain = AhaDestination(template="create_feature", path_params={"release_id": RELEASE})
    report = write(aha_sandbox, plain, [{"name": "same"}, {"name": "same"}, {"name": "other"}])
    # without a key, identical rows are one record (documented): written once
    assert [o.status for o in report.outcomes] == ["created", "skipped", "created"]
    assert "identical to record #0" in (report.outcomes[1].detail or "")
    names = Counter(f["name"] for f in aha_sandbox.state.records("features"))
    assert names["same"] == 1 and names["other"] == 1
    missing = write(aha_sandbox, dest, [{"name": "no id"}])
    assert missing.outcomes[0].status == "failed"
    assert "record_key field 'id'" in (missing.outcomes[0].error or "")


def test_a_listing_without_the_match_field_refuses_to_create(
    aha_sandbox: AhaSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Aha! ignoring ``fields=`` on a scope: records come back without ``custom_fields``."""
    from dagster_aha.client import AhaClient

    real = AhaClient.iter_records

    def without_custom_fields(self: AhaClient, path: str, **kw: Any) -> Any:
        for rec in real(self, path, **kw):
            yield {k: v for k, v in rec.items() if k != "custom_fields"}

    monkeypatch.setattr(AhaClient, "iter_records", without_custom_fields)
    assert aha_sandbox.state.count("features") > 0
    report = write(aha_sandbox, upsert_dest(), [{"name": "new", "ext": "N1"}])
    (o,) = report.outcomes
    assert o.status == "failed" and not o.retryable
    assert "could not verify that no record with this key exists" in (o.error or "")
    assert [r for r in aha_sandbox.requests if r.method == "POST"] == []
