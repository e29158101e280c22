"""One module per resource kind of the sandbox: its seeded records, statuses, list filters,
write rules and HTTP routes (``features.py`` is everything about features). ``REGISTRY`` maps
each kind's plural name to its :class:`~dagster_aha.testing.kinds.base.Kind`; importing this
package registers every route (``dagster_aha.testing.http.ROUTES``) in the order below."""

from __future__ import annotations

from dagster_aha.testing.kinds import (
    custom_field_definitions,
    custom_object_records,
    epics,
    features,
    goals,
    ideas,
    initiatives,
    pivot_reports,
    products,
    releases,
    teams,
    users,
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
    )
}
SINGULAR_TO_PLURAL: dict[str, str] = {k.singular: k.name for k in REGISTRY.values()}

__all__ = ["REGISTRY", "SINGULAR_TO_PLURAL", "Kind", "custom_field_definitions", "pivot_reports"]
