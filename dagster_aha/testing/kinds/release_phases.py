"""Release phases: ``GET release_phases``, ``GET releases/:id/release_phases``,
``GET|PUT release_phases/:id``; seeded one per release."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import detail_route, list_route, update_route
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import note

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

COMPACT_KEYS = (
    "id",
    "name",
    "start_on",
    "end_on",
    "type",
    "release_id",
    "created_at",
    "updated_at",
    "progress",
    "progress_source",
    "duration_source",
    "description",
    "integration_fields",
    "custom_fields",
)


def make_release_phase(state: SandboxState, rel: dict[str, Any]) -> dict[str, Any]:
    pid = state.new_id()
    return {
        "id": pid,
        "name": "Alpha",
        "start_on": rel["start_date"],
        "end_on": rel["release_date"],
        "type": "phase",
        "release_id": int(rel["id"]),
        "created_at": rel["created_at"],
        "updated_at": rel["updated_at"],
        "progress": 0,
        "progress_source": "progress_from_features",
        "duration_source": "duration_manual",
        "description": note(state, pid, "ReleasePhase", "<p>Alpha</p>", rel["created_at"]),
        "integration_fields": [],
        "custom_fields": [],
        "release": {"id": rel["id"]},
    }


def seed_release_phases(state: SandboxState) -> None:
    for rel in state.snapshot("releases"):
        state.store("release_phases", make_release_phase(state, rel))


KIND = Kind(
    name="release_phases", singular="release_phase", compact_keys=COMPACT_KEYS, ref_key="id"
)

list_route("release_phases", "release_phases")
list_route("release_phases", "releases/:pid/release_phases", "releases", "release")
detail_route("release_phases", "release_phases/:id")
update_route("release_phases", "release_phases/:id")
