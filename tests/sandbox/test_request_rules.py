"""What the sandbox rejects, as Aha! does: write bodies against Aha!'s request schemas, paging
and ``fields=`` it cannot honour; and no input answers 500 (plain requests)."""

from __future__ import annotations

import json

import pytest
import requests

from ._api import AUTH, Api

INVALID_BODIES = [
    # (path, body, where the error points)
    ("goals/PRJ1-G-1", {"goal": {"workflow_status": {"name": "On Track"}}}, "goal.workflow_status"),
    ("features/PRJ1-1", {"feature": {"workflow_status": "Designed"}}, "feature.workflow_status"),
    (
        "features/PRJ1-1",
        {"feature": {"assigned_to_user": "mary.humpty@example.com"}},
        "feature.assigned_to_user",
    ),
    ("features/PRJ1-1", {"feature": {"description": {"body": "x"}}}, "feature.description"),
    (
        "teams/{team}",
        {"team": {"automatically_calculate_team_members_count": "yes"}},
        "team.automatically_calculate_team_members_count",
    ),
]


@pytest.mark.parametrize(("path", "body", "where"), INVALID_BODIES)
def test_bodies_the_request_schemas_reject_answer_400_and_change_nothing(
    api: Api, path: str, body: dict, where: str
) -> None:
    path = path.format(team=api.sb.state.records("teams")[0]["id"])
    before = api.get(path, fields="*").json()
    r = api.put(path, body)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/json")
    assert set(r.json()) == {"error"} and where in r.json()["error"]
    assert api.get(path, fields="*").json() == before


def test_the_same_keys_in_their_documented_types_are_applied(api: Api) -> None:
    team = api.sb.state.records("teams")[0]["id"]
    ok = [
        ("goals/PRJ1-G-1", {"goal": {"workflow_status": "On Track"}}),
        ("features/PRJ1-1", {"feature": {"workflow_status": {"name": "Designed"}}}),
        ("features/PRJ1-1", {"feature": {"assigned_to_user": {"email": "john.smith@example.com"}}}),
        ("features/PRJ1-1", {"feature": {"description": "<p>new</p>"}}),
        (f"teams/{team}", {"team": {"automatically_calculate_team_members_count": False}}),
    ]
    for path, body in ok:
        assert api.put(path, body).status_code == 200, (path, body)
    feature = api.get("features/PRJ1-1").json()["feature"]
    assert feature["workflow_status"]["name"] == "Designed"
    assert feature["assigned_to_user"]["email"] == "john.smith@example.com"
    assert feature["description"]["body"] == "<p>new</p>"
    goal = api.get("goals/PRJ1-G-1").json()["goal"]
    assert goal["success_metric"]["workflow_status"]["name"] == "On Track"
    team_rec = api.get(f"teams/{team}").json()["team"]
    assert team_rec["automatically_calculate_team_members_count"] is False


@pytest.mark.parametrize(
    "links",
    [
        {"customers": "not-a-list"},
        {"customers": ["not-a-record"]},
        {"customers": [{"id": 1}]},
        {"customers": ["1"]},
        ["customers"],
        {"customers": [True]},
    ],
)
def test_custom_object_links_of_the_wrong_shape_are_4xx_never_500(api: Api, links: object) -> None:
    rec = api.sb.state.records("custom_object_records")[0]["id"]
    r = api.put(
        f"custom_object_records/{rec}", {"custom_object_record": {"custom_object_links": links}}
    )
    assert r.status_code in (400, 422), r.text
    assert set(r.json()) == {"error"}


def test_custom_object_links_to_existing_records_are_stored(api: Api) -> None:
    recs = api.sb.state.records("custom_object_records")
    body = {"custom_object_record": {"custom_object_links": {"customers": [recs[1]["id"]]}}}
    r = api.put(f"custom_object_records/{recs[0]['id']}", body)
    assert r.status_code == 200
    links = r.json()["custom_object_record"]["custom_object_links"]
    assert links == [
        {
            "key": "customers",
            "record_type": "CustomObjectRecord",
            "record_ids": [int(recs[1]["id"])],
        }
    ]


@pytest.mark.parametrize("per_page", ["0", "-1", "abc", "1.5", ""])
def test_per_page_zero_or_not_a_number_is_400(ro: Api, per_page: str) -> None:
    r = ro.get("features", per_page=per_page)
    if per_page == "":
        assert r.status_code == 200  # absent: the default page size
        assert len(r.json()["features"]) == 30
        return
    assert r.status_code == 400
    assert "per_page" in r.json()["error"]


def test_per_page_above_the_maximum_is_capped_at_200(ro: Api) -> None:
    body = ro.get("features", per_page="500").json()
    assert len(body["features"]) == min(200, body["pagination"]["total_records"])


@pytest.mark.parametrize("page", ["0", "-3", "x"])
def test_page_must_be_a_positive_integer(ro: Api, page: str) -> None:
    assert ro.get("features", page=page).status_code == 400


def test_fields_naming_no_documented_key_is_400_not_an_empty_record(ro: Api) -> None:
    r = ro.get("features", fields="nonexistent")
    assert r.status_code == 400
    assert "nonexistent" in r.json()["error"]
    assert ro.get("features/PRJ1-1", fields="name,nonexistent").status_code == 400
    # documented names work, and "*" may carry extras (Aha! documents fields=*,watchers)
    item = ro.get("features", fields="id,name").json()["features"][0]
    assert set(item) == {"id", "name"}
    assert ro.get("features", fields="*,watchers").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "raw"),
    [
        ("POST", "releases/PRJ1-R-1/features", b"[" * 5000 + b"]" * 5000),
        ("POST", "releases/PRJ1-R-1/features", b'{"feature": {"name": "x", "score": NaN}}'),
        ("PUT", "features/PRJ1-1", b'{"feature": {"tags": 5}}'),
        ("PUT", "features/PRJ1-1", b'{"feature": {"release": {"id": null}}}'),
        ("PUT", "initiatives/PRJ1-S-1", b'{"initiative": {"time_frame": {"id": "abc"}}}'),
        ("PUT", "initiatives/PRJ1-S-1", b'{"initiative": {"time_frame": "2019"}}'),
        ("PUT", "teams/{team}", b'{"team": {"workflow_status": "x", "name": "t"}}'),
        ("GET", "features?updated_since=9999-12-31T23:59:59-23:59", b""),
        ("GET", "features?updated_since=0001-01-01T00:00:00%2B14:00", b""),
        ("GET", "bookmarks/custom_pivots/1?per_page=0", b""),
        (
            "PUT",
            "custom_object_records/{record}",
            b'{"custom_object_record": {"custom_fields": {"x": 1}}}',
        ),
    ],
)
def test_hostile_inputs_never_answer_500(api: Api, method: str, path: str, raw: bytes) -> None:
    state = api.sb.state
    path = path.format(
        team=state.records("teams")[0]["id"], record=state.records("custom_object_records")[0]["id"]
    )
    r = requests.request(
        method,
        api.url(path),
        data=raw or None,
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code < 500, (r.status_code, r.text)
    json.loads(r.text)  # always a JSON body
