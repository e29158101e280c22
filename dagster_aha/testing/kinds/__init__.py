"""One module per resource kind of the sandbox: its seeded records, statuses, list filters,
write rules and HTTP routes (``features.py`` is everything about features). ``REGISTRY`` maps
each kind's plural name to its :class:`~dagster_aha.testing.kinds.base.Kind`; importing this
package registers every route (``dagster_aha.testing.http.ROUTES``) in the order below."""

from __future__ import annotations

# idea_endorsements before ideas: ``ideas/endorsements`` must be tried before ``ideas/:id``
from dagster_aha.testing.kinds import (  # isort: skip
    idea_endorsements,
    audits,
    comments,
    custom_field_definitions,
    custom_object_records,
    deletions,
    epics,
    features,
    goals,
    idea_categories,
    ideas,
    initiatives,
    pivot_reports,
    products,
    record_links,
    release_phases,
    releases,
    requirements,
    tasks,
    teams,
    users,
    workflow_status_times,
    workflows,
)
from dagster_aha.testing.kinds.base import Kind

REGISTRY: dict[str, Kind] = {
    m.KIND.name: m.KIND
    for m in (
        products,
        releases,
        features,
        epics,
        ideas,
        goals,
        initiatives,
        users,
        teams,
        custom_object_records,
        audits,
        tasks,
        comments,
        requirements,
        idea_endorsements,
        idea_categories,
        release_phases,
        record_links,
        workflow_status_times,
    )
}
SINGULAR_TO_PLURAL: dict[str, str] = {k.singular: k.name for k in REGISTRY.values()}

__all__ = [
    "REGISTRY",
    "SINGULAR_TO_PLURAL",
    "Kind",
    "custom_field_definitions",
    "deletions",
    "pivot_reports",
    "workflows",
]
