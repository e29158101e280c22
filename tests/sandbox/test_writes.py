from __future__ import annotations

import pytest

from dagster_aha.testing import AhaSandbox

from ._api import Api


def test_create_feature(api: Api) -> None:
    before = api.get("releases/PRJ1-R-2/features").json()["pagination"]["total_records"]
    last_ref = api.sb.state.records("features")[-1]["reference_num"]
    r = api.post(
        "releases/PRJ1-R-2/features",
        {
            "feature": {
                "name": "Sync from warehouse",
                "description": "<p>hi</p>",
                "custom_fields": {"external_id": "EXT-1", "team_size": 3},
                "tags": "API,Data",
                "workflow_status": {"name": "Designed"},
            }
        },
        disable_mailers="true",
    )
    assert r.status_code == 200, r.text
    feat = r.json()["feature"]
    assert len(feat["id"]) == 19 and feat["name"] == "Sync from warehouse"
    assert feat["reference_num"] == "PRJ1-11"  # 2 releases x 5 features -> next is 11
    assert last_ref != feat["reference_num"]
    assert feat["url"] == "https://sandbox.aha.io/features/PRJ1-11"
    assert feat["release"]["reference_num"] == "PRJ1-R-2"
    assert feat["workflow_status"]["name"] == "Designed"
    assert feat["tags"] == ["API", "Data"]
    assert feat["description"]["body"] == "<p>hi</p>"
    cfs = {cf["key"]: cf for cf in feat["custom_fields"]}
    assert cfs["external_id"]["value"] == "EXT-1"
    assert cfs["team_size"]["value"] == 3 and cfs["team_size"]["type"] == "number"
    assert set(cfs["external_id"]) >= {"id", "key", "name", "type", "value", "updatedAt"}
    # visible in lists, filters and by reference
    after = api.get("releases/PRJ1-R-2/features").json()["pagination"]["total_records"]
    assert after == before + 1
    found = api.get("features", **{"custom_fields[external_id]": "EXT-1"}).json()
    assert [f["id"] for f in found["features"]] == [feat["id"]]
    assert api.get("features/PRJ1-11").json()["feature"]["id"] == feat["id"]
    log = [e for e in api.sb.requests if e.method == "POST"]
    assert log[-1].query["disable_mailers"] == "true"
    assert log[-1].json["feature"]["custom_fields"] == {"external_id": "EXT-1", "team_size": 3}
    assert log[-1].path == "releases/PRJ1-R-2/features" and log[-1].status == 200


def test_unwrapped_and_invalid_bodies(api: Api) -> None:
    n = api.sb.state.count("features")
    r = api.post("releases/PRJ1-R-1/features", {"name": "Unwrapped"})
    assert r.status_code == 400 and "feature" in r.json()["error"]
    r = api.post("releases/PRJ1-R-1/features", {"feature": {"description": "no name"}})
    assert r.status_code == 422 and r.json()["error"]
    r = api.session.post(
        api.url("releases/PRJ1-R-1/features"),
        data=b"{nope",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert r.status_code == 400
    assert api.post("releases/PRJ1-R-99/features", {"feature": {"name": "x"}}).status_code == 404
    bad_status = {"feature": {"name": "x", "workflow_status": {"name": "Nope"}}}
    assert api.post("releases/PRJ1-R-1/features", bad_status).status_code == 422
    assert api.sb.state.count("features") == n
    assert api.put("epics/PRJ1-E-1", {"name": "Unwrapped"}).status_code == 400


def test_update_feature_bumps_updated_at(api: Api) -> None:
    old = api.get("features/PRJ1-3").json()["feature"]
    r = api.put(
        "features/PRJ1-3", {"feature": {"name": "Renamed", "custom_fields": {"priority": "P0"}}}
    )
    assert r.status_code == 200
    new = r.json()["feature"]
    assert new["name"] == "Renamed" and new["updated_at"] > old["updated_at"]
    assert [cf["value"] for cf in new["custom_fields"] if cf["key"] == "priority"] == ["P0"]
    since = api.get("features", updated_since=old["updated_at"][:19] + "Z").json()["features"]
    assert old["id"] in [f["id"] for f in since]
    assert api.get("features", q="renamed").json()["features"][0]["id"] == old["id"]


def test_epic_endpoints(api: Api) -> None:
    r = api.post(
        "releases/PRJ2-R-1/epics", {"epic": {"name": "Platform", "detailed_estimate_text": "58min"}}
    )
    assert r.status_code == 200
    epic = r.json()["epic"]
    assert epic["reference_num"] == "PRJ2-E-5" and epic["release"]["reference_num"] == "PRJ2-R-1"
    # default release: the product's first unreleased release (R-1 is released)
    d = api.post("products/PRJ1/epics", {"epic": {"name": "Default"}}).json()["epic"]
    assert d["release"]["reference_num"] == "PRJ1-R-2"
    assert api.sb.state.get("releases", "PRJ1-R-1")["released"] is True  # type: ignore[index]
    u = api.put(f"epics/{epic['id']}", {"epic": {"name": "Platform v2", "tags": ["Infra"]}})
    assert u.status_code == 200 and u.json()["epic"]["name"] == "Platform v2"
    assert u.json()["epic"]["tags"] == ["Infra"]
    assert api.get("epics", tag="Infra").json()["epics"][0]["id"] == epic["id"]
    rd = api.delete(f"epics/{epic['reference_num']}")
    assert rd.status_code == 204 and rd.content == b""
    assert api.get(f"epics/{epic['id']}").status_code == 404
    assert api.delete(f"epics/{epic['id']}").status_code == 404


def test_goal_endpoints(api: Api) -> None:
    g = api.post(
        "products/PRJ1/goals",
        {
            "goal": {
                "name": "Goal 3",
                "description": "Grow",
                "effort": 15,
                "value": 5,
                "time_frame": {"name": "2015"},
                "success_metric": {
                    "name": "FooBar",
                    "description": "Foo Bar",
                    "workflow_status": "Not Started",
                },
            }
        },
    )
    assert g.status_code == 200
    goal = g.json()["goal"]
    assert goal["reference_num"] == "PRJ1-G-3" and goal["effort"] == 15
    assert goal["success_metric"]["name"] == "FooBar"
    u = api.put(
        f"products/PRJ1/goals/{goal['id']}",
        {"goal": {"description": "Better", "workflow_status": "On Track"}},
    )
    assert u.status_code == 200
    got = u.json()["goal"]
    assert got["success_metric"]["workflow_status"]["name"] == "On Track"
    assert got["description"]["body"] == "Better"
    assert got["updated_at"] > goal["updated_at"]
    # the goal does not belong to PRJ2
    assert api.put(f"products/PRJ2/goals/{goal['id']}", {"goal": {"name": "x"}}).status_code == 404
    assert goal["id"] in [x["id"] for x in api.get("products/PRJ1/goals").json()["goals"]]


def test_initiative_endpoints(api: Api) -> None:
    r = api.post(
        "products/PRJ2/initiatives",
        {
            "initiative": {
                "name": "Initiative 3",
                "workflow_status": {"name": "Not Started"},
                "effort": 15,
                "value": 5,
                "presented": True,
                "custom_fields": [{"key": "initiative_custom_date", "value": "2019-01-01"}],
            }
        },
    )
    assert r.status_code == 200
    init = r.json()["initiative"]
    assert init["reference_num"] == "PRJ2-S-3"
    assert init["custom_fields"][0]["key"] == "initiative_custom_date"
    assert init["custom_fields"][0]["value"] == "2019-01-01"
    u = api.put(
        f"products/PRJ2/initiatives/{init['reference_num']}",
        {"initiative": {"name": "Smarter initiative"}},
    )
    assert u.status_code == 200 and u.json()["initiative"]["name"] == "Smarter initiative"
    assert api.get("initiatives", q="smarter").json()["initiatives"][0]["id"] == init["id"]


def test_custom_table_record_and_team(api: Api) -> None:
    path = "products/PRJ1/custom_objects/customers/records"
    before = api.get(path).json()["pagination"]["total_records"]
    r = api.post(
        path,
        {
            "custom_object_record": {
                "custom_fields": {"name": "Major conglomerate", "website": "www.conglom.com"}
            }
        },
    )
    assert r.status_code == 200
    rec = r.json()["custom_object_record"]
    assert rec["key"] == "customers"
    assert {cf["key"]: cf["value"] for cf in rec["custom_fields"]} == {
        "name": "Major conglomerate",
        "website": "www.conglom.com",
    }
    assert api.get(path).json()["pagination"]["total_records"] == before + 1
    t = api.post("teams", {"team": {"name": "Account team"}})
    assert t.status_code == 200 and t.json()["team"]["name"] == "Account team"
    assert t.json()["team"]["project"] is None
    assert "Account team" in [x["name"] for x in api.get("teams").json()["teams"]]
    assert api.post("teams", {"team": {}}).status_code == 422


def test_update_record_behind_the_back(aha_sandbox: AhaSandbox) -> None:
    api = Api(aha_sandbox)
    old = api.get("features/PRJ1-2").json()["feature"]
    new = aha_sandbox.state.update_record(
        "feature", "PRJ1-2", name="Changed", custom_fields={"external_id": "E9"}
    )
    assert new["updated_at"] > old["updated_at"]
    since = api.get("features", updated_since=old["updated_at"]).json()["features"]
    assert [f["id"] for f in since if f["id"] == old["id"]] == [old["id"]]
    assert api.get("features/PRJ1-2").json()["feature"]["name"] == "Changed"
    with pytest.raises(KeyError):
        aha_sandbox.state.update_record("features", "PRJ1-999", name="x")
    aha_sandbox.state.delete_record("features", "PRJ1-2")
    assert api.get("features/PRJ1-2").status_code == 404


@pytest.mark.aha_sandbox(products=1, releases_per_product=1, features_per_release=2, seed=3)
def test_marker_configures_fixture(aha_sandbox: AhaSandbox) -> None:
    assert aha_sandbox.state.count("features") == 2
    assert aha_sandbox.seed == 3
    assert aha_sandbox.enforce_rate_limits is False  # fixture default kept


def test_pivot_reports_reflect_writes(api: Api) -> None:
    report = next(iter(api.sb.state.reports))
    before = api.get(f"bookmarks/custom_pivots/{report}").json()["pagination"][0]
    made = api.post(
        "releases/PRJ2-R-2/features",
        {"feature": {"name": "Pivoted", "workflow_status": {"name": "Shipped"}}},
    ).json()["feature"]
    after = api.get(f"bookmarks/custom_pivots/{report}").json()
    assert after["pagination"][0]["total_records"] == before["total_records"] + 1
    pivot = api.get(f"bookmarks/custom_pivots/{report}", view="pivot").json()
    hits = [v for r in pivot["cells"] for c in r for v in c if v[0]["id"] == int(made["id"])]
    assert len(hits) == 1
    assert pivot["columns"][str(hits[0][0]["column_ref"])]["plain_value"] == "Shipped"
    row = pivot["rows"][str(hits[0][0]["row_ref"])]
    assert row["plain_value"] == "Release 2"
    assert pivot["rows"][str(row["parent_ref"])]["plain_value"] == "Project 2"
