"""Record links between features: ``GET features/:id/record_links`` (both directions, not
paginated, as in the spec's example), ``GET record_links/:id``; seeded one "Depends on" link
between the first two features of each release."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import json_response, route
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import API, HOST

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox
    from dagster_aha.testing.state.core import SandboxState


def _end(feature: dict[str, Any]) -> dict[str, Any]:
    ref = feature["reference_num"]
    return {
        "record_type": "feature",
        "id": feature["id"],
        "name": feature["name"],
        "reference_num": ref,
        "created_at": feature["created_at"],
        "product_id": feature["product_id"],
        "url": f"{HOST}/features/{ref}",
        "resource": f"{API}/features/{ref}",
    }


def make_record_link(
    state: SandboxState, parent: dict[str, Any], child: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": state.new_id(),
        "link_type": "Depends on",
        "link_type_id": 20,
        "created_at": parent["created_at"],
        "parent_record_type": "feature",
        "parent_record_id": int(parent["id"]),
        "child_record_type": "feature",
        "child_record_id": int(child["id"]),
        "parent_record": _end(parent),
        "child_record": _end(child),
    }


def seed_record_links(state: SandboxState) -> None:
    for rel in state.snapshot("releases"):
        features = [f for f in state.snapshot("features") if f["release"]["id"] == rel["id"]]
        if len(features) >= 2:
            state.store("record_links", make_record_link(state, features[0], features[1]))


KIND = Kind(name="record_links", singular="record_link", ref_key="id")


@route("GET", "features/:pid/record_links")
def _feature_links(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Any:
    fid = sb.state.require("features", m["pid"])["id"]
    links = []
    for link in sb.state.snapshot("record_links"):
        ends = (str(link["parent_record"]["id"]), str(link["child_record"]["id"]))
        if fid in ends:
            links.append({**_served(link), "parent": ends[0] == fid})
    return json_response(200, {"record_links": links})


def _served(link: dict[str, Any]) -> dict[str, Any]:
    """A link as Aha! serves it: its own id is an integer (the document's example)."""
    return {**link, "id": int(link["id"])}


@route("GET", "record_links/:id")
def _link(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Any:
    return json_response(200, {"record_link": _served(sb.state.require("record_links", m["id"]))})
