"""Responses shaped as Aha!'s document shows them, the endpoints our docs use, the streams'
``fields=`` lists, and the sandbox clock with large data (plain requests)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from dagster_aha.sources.streams import STREAMS, custom_table_stream
from dagster_aha.testing import AhaSandbox
from dagster_aha.testing.http import COMPUTED_FIELDS

from ._api import Api


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------- clock
@pytest.fixture(scope="module")
def big() -> Iterator[Api]:
    with AhaSandbox(
        products=1, releases_per_product=1, features_per_release=60_000, enforce_rate_limits=False
    ) as sb:
        api = Api(sb)
        yield api
        api.session.close()


def test_seeded_timestamps_are_never_after_the_sandboxs_now_with_60000_features(big: Api) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    newest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    for kind in ("features", "epics", "releases", "ideas", "goals", "initiatives", "users"):
        for rec in big.sb.state.snapshot(kind):
            for key in ("created_at", "updated_at"):
                if rec.get(key):
                    newest = max(newest, _ts(rec[key]))
    assert big.sb.state.count("features") == 60_000
    assert newest <= now
    # the last page of the list, as a reader sees it
    last = big.get("features", fields="id,updated_at", per_page=200, page=300).json()
    assert last["pagination"]["total_pages"] == 300
    assert all(_ts(f["updated_at"]) <= now for f in last["features"])


def test_changes_move_updated_at_past_everything_seeded_so_an_incremental_read_finds_them(
    big: Api,
) -> None:
    seeded_max = max(f["updated_at"] for f in big.sb.state.snapshot("features"))
    changed = set()
    for n in range(1, 201, 2):  # 100 changes behind the client's back
        rec = big.sb.state.update_record("feature", f"PRJ1-{n}", name=f"changed {n}")
        changed.add(rec["id"])
    r = big.put("features/PRJ1-2", {"feature": {"name": "changed through the API"}})
    changed.add(r.json()["feature"]["id"])
    found = []
    page = 1
    while True:
        body = big.get(
            "features", updated_since=seeded_max, fields="id,updated_at", per_page=200, page=page
        ).json()
        found += body["features"]
        if page >= body["pagination"]["total_pages"]:
            break
        page += 1
    assert {f["id"] for f in found} == changed
    assert all(f["updated_at"] > seeded_max for f in found)


def test_teams_gain_no_updated_at_after_a_write(api: Api) -> None:
    team = api.sb.state.records("teams")[0]["id"]
    r = api.put(f"teams/{team}", {"team": {"name": "Renamed"}})
    assert r.status_code == 200
    assert "updated_at" not in r.json()["team"]
    assert "updated_at" not in api.get(f"teams/{team}").json()["team"]


# ---------------------------------------------------------------------------- shapes
def test_pivot_rich_values_are_html_and_status_colours_are_the_statuses(ro: Api) -> None:
    report = next(iter(ro.sb.state.reports))
    body = ro.get(f"bookmarks/custom_pivots/{report}", per_page=5).json()
    titles = [c["title"] for c in body["columns"]]
    for row in body["rows"]:
        cells = dict(zip(titles, row, strict=True))
        product = cells["Product name"]
        assert product["rich_value"].startswith('<span class="project-name">')
        assert product["plain_value"] in product["rich_value"]
        ref = cells["Feature reference #"]
        assert ref["rich_value"].startswith("<aha-record-reference")
        assert ref["plain_value"] in ref["html_value"]
        status = cells["Feature status"]
        feature = ro.get(f"features/{ref['plain_value']}").json()["feature"]
        colour = feature["workflow_status"]["color"]
        assert status["rich_value"]["color"] == colour.lstrip("#")
        assert f"background-color: {colour.upper()}" in status["html_value"]


def test_workflow_statuses_carry_a_category_object(ro: Api) -> None:
    for path, key in (("features", "features"), ("ideas", "ideas"), ("releases/PRJ1-R-1", None)):
        recs = ro.get(path, fields="*").json()
        for rec in recs[key] if key else [recs["release"]]:
            category = rec["workflow_status"]["workflow_status_category"]
            assert set(category) == {"id", "name"} and isinstance(category["id"], str)
    shipped = next(
        f
        for f in ro.get("features", fields="*", per_page=200).json()["features"]
        if f["workflow_status"]["name"] == "Shipped"
    )
    assert shipped["workflow_status"]["workflow_status_category"]["name"] == "Shipped"


def test_feature_custom_fields_are_typed_as_in_the_document(ro: Api) -> None:
    feature = ro.get("features/PRJ1-1").json()["feature"]
    by_key = {cf["key"]: cf for cf in feature["custom_fields"]}
    assert by_key["expected_completion_date"]["type"] == "date"
    dt.date.fromisoformat(by_key["expected_completion_date"]["value"])
    assert by_key["revenue"]["type"] == "number" and float(by_key["revenue"]["value"]) >= 0
    assert by_key["component"]["type"] == "array" and isinstance(by_key["component"]["value"], list)
    reviewers = by_key["reviewers"]
    assert reviewers["type"] == "array"
    assert [u["id"] for u in reviewers["full_value"]] == reviewers["value"]
    assert all("@" in e for e in reviewers["email_value"])
    record = ro.sb.state.records("custom_object_records")[0]["id"]
    fields = ro.get(f"custom_object_records/{record}").json()["custom_object_record"]
    assert {cf["key"]: cf["type"] for cf in fields["custom_fields"]} == {
        "name": "string",
        "website": "url",
    }


def test_user_list_custom_fields_take_emails_and_return_full_values(api: Api) -> None:
    body = {"feature": {"custom_fields": {"reviewers": ["ada.lovelace@example.com"]}}}
    cf = next(
        cf
        for cf in api.put("features/PRJ1-1", body).json()["feature"]["custom_fields"]
        if cf["key"] == "reviewers"
    )
    assert cf["email_value"] == ["ada.lovelace@example.com"]
    assert cf["full_value"][0]["name"] == "Ada Lovelace" and cf["value"] == [
        cf["full_value"][0]["id"]
    ]


def test_initiatives_goals_and_creators_carry_the_documented_fields(ro: Api) -> None:
    init = ro.get("initiatives/PRJ1-S-1").json()["initiative"]
    assert set(init["time_frame"]) == {"id", "name"}
    feature = ro.get("features/PRJ1-1").json()["feature"]
    assert feature["initiative"]["description"]["notable_type"] == "Initiative"
    assert isinstance(feature["initiative"]["integration_fields"], list)
    assert all(g["description"]["notable_type"] == "StrategicImperative" for g in feature["goals"])
    assert feature["goals"]
    record = ro.sb.state.records("custom_object_records")[0]["id"]
    creator = ro.get(f"custom_object_records/{record}").json()["custom_object_record"][
        "created_by_user"
    ]
    assert {"created_at", "updated_at"} <= set(creator)


def test_initiative_time_frame_and_goal_success_metric_description_writes(api: Api) -> None:
    r = api.put("initiatives/PRJ1-S-1", {"initiative": {"time_frame": {"id": 813624702}}})
    assert r.json()["initiative"]["time_frame"] == {"id": 813624702, "name": "2019"}
    r = api.put("goals/PRJ1-G-1", {"goal": {"success_metric": {"description": "Grow 10%"}}})
    desc = r.json()["goal"]["success_metric"]["description"]
    assert desc["body"] == "Grow 10%" and desc["notable_type"] == "StrategicImperativeMetric"
    assert {"id", "created_at", "updated_at", "attachments"} <= set(desc)


# ---------------------------------------------------------------------------- endpoints
def test_release_create_and_product_scoped_update(api: Api) -> None:
    r = api.post(
        "products/PRJ1/releases",
        {"release": {"name": "Parking lot", "theme": "Later", "owner": "john.smith@example.com"}},
    )
    assert r.status_code == 200
    rel = r.json()["release"]
    assert rel["name"] == "Parking lot" and rel["reference_num"].startswith("PRJ1-R-")
    assert rel["theme"]["body"] == "Later" and rel["owner"]["email"] == "john.smith@example.com"
    assert api.get(f"releases/{rel['reference_num']}").status_code == 200
    parent = api.sb.state.get("releases", "PRJ1-R-1")
    assert parent is not None
    r = api.put(
        f"products/PRJ1/releases/{rel['id']}", {"release": {"parent_id": int(parent["id"])}}
    )
    assert r.status_code == 200
    assert api.put(f"products/PRJ2/releases/{rel['id']}", {"release": {}}).status_code == 404
    assert (
        api.put(f"products/PRJ1/releases/{rel['id']}", {"release": {"parent_id": 1}}).status_code
        == 422
    )


def test_ideas_related_and_endorsements_are_not_taken_for_an_idea_id(ro: Api) -> None:
    related = ro.get("ideas/related", q="Idea 1").json()
    assert related["ideas"] and all("Idea" in i["name"] for i in related["ideas"])
    assert set(related["ideas"][0]) >= {"id", "name", "reference_num", "workflow_status"}
    votes = ro.get("ideas/endorsements").json()  # the votes list, not an idea "endorsements"
    n = ro.sb.state.count("idea_endorsements")
    assert len(votes["idea_endorsements"]) == n > 0
    assert votes["pagination"] == {"total_records": n, "total_pages": 1, "current_page": 1}
    assert {"id", "idea_id", "created_at"} <= set(votes["idea_endorsements"][0])


# ---------------------------------------------------------------------------- streams
@pytest.mark.parametrize("name", sorted(STREAMS))
def test_stream_fields_lists_name_only_documented_keys(ro: Api, name: str) -> None:
    stream = STREAMS[name]
    path = stream.account_path or stream.product_path("PRJ1")
    if not stream.fields:  # a dimension served whole (custom field definitions, workflows)
        assert ro.get(path, per_page=2).status_code == 200
        return
    # a record's documented keys, plus what the list computes on request (requirements,
    # workflow_status_times: the child tables read through the parent's fields=)
    known = ro.sb.state.known_fields(stream.record_key) | frozenset(
        COMPUTED_FIELDS.get(stream.record_key, {})
    )
    assert set(stream.fields) <= known, set(stream.fields) - known
    r = ro.get(path, fields=",".join(stream.fields), per_page=2)
    assert r.status_code == 200, r.text


def test_custom_table_stream_fields_are_documented(ro: Api) -> None:
    stream = custom_table_stream("PRJ1", "customers", name="customers")
    assert set(stream.fields) <= ro.sb.state.known_fields("custom_object_records")
    assert ro.get(stream.account_path or "", fields=",".join(stream.fields)).status_code == 200


def test_a_write_stamps_the_sandboxs_now(api: Api) -> None:
    before = time.time()
    r = api.put("features/PRJ1-1", {"feature": {"name": "now"}})
    stamped = _ts(r.json()["feature"]["updated_at"]).timestamp()
    assert stamped >= before - 0.002


def test_the_manual_destination_example_of_the_docstring_creates_a_release(
    aha_sandbox: AhaSandbox,
) -> None:
    from dagster_aha.destinations import AhaDestination, write_records

    dest = AhaDestination(
        method="POST",
        path="products/{product_id}/releases",
        wrap_key="release",
        path_params={"product_id": "PRJ1"},
    )
    with aha_sandbox.client() as client:
        report = write_records(client, dest, [{"name": "From a destination"}])
    (req,) = [r for r in aha_sandbox.requests if r.method != "GET"]
    assert (req.method, req.path, req.status) == ("POST", "products/PRJ1/releases", 200)
    assert req.json == {"release": {"name": "From a destination"}}
    names = [r["name"] for r in aha_sandbox.state.records("releases")]
    assert "From a destination" in names
    assert report is not None
