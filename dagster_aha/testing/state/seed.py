"""The seeded account: which records of which kinds, in which order, from one seeded RNG.

The order of the calls fixes every seeded id and reference (ids come from one counter), so it
is part of the sandbox's behaviour: add new seeded records after the existing ones.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from dagster_aha.testing.kinds.custom_object_records import CUSTOMERS, make_table_record
from dagster_aha.testing.kinds.epics import make_epic
from dagster_aha.testing.kinds.features import FEATURE_STATUSES, make_feature
from dagster_aha.testing.kinds.goals import make_goal
from dagster_aha.testing.kinds.ideas import IDEA_STATUSES, make_idea
from dagster_aha.testing.kinds.initiatives import make_initiative
from dagster_aha.testing.kinds.pivot_reports import seed_reports
from dagster_aha.testing.kinds.products import make_product
from dagster_aha.testing.kinds.releases import make_release
from dagster_aha.testing.kinds.teams import make_team
from dagster_aha.testing.kinds.users import USER_NAMES, make_user
from dagster_aha.testing.state.clock import BASE_MS, HOUR_MS, fmt_ts

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

#: kinds with workflow statuses, in the order their status ids are drawn
STATUS_KINDS = ("features", "epics", "releases", "ideas", "initiatives", "goals")
VERBS = ["Improve", "Add", "Redesign", "Fix"]
NOUNS = ["login", "search", "export", "billing", "reports"]
TAGS = ["Engineering", "Design", "API", "Infrastructure", "Mobile", "Security"]
#: a seeded record's updated_at is up to this many days after its created_at
MAX_UPDATE_DAYS = 400
DAY_MS = 24 * HOUR_MS


#: Aha!'s workflow status categories (ids as in the document's examples), and the category
#: of each seeded status name
STATUS_CATEGORIES = {
    "Not started": "573605243",
    "In progress": "112353881",
    "Done": "935706688",
    "Shipped": "51383845",
    "Will not do": "717273308",
}
CATEGORY_OF = {
    "New": "Not started",
    "Needs review": "Not started",
    "Not Started": "Not started",
    "Under consideration": "Not started",
    "Shipped": "Shipped",
    "Done": "Done",
    "Will not implement": "Will not do",
}


def status_category(name: str) -> dict[str, str]:
    category = CATEGORY_OF.get(name, "In progress")
    return {"id": STATUS_CATEGORIES[category], "name": category}


def seed_statuses(state: SandboxState) -> None:
    for kind in STATUS_KINDS:
        state.statuses[kind] = [
            {
                "id": state.new_id(),
                "name": name,
                "position": i + 1,
                "complete": complete,
                "color": color,
                "workflow_status_category": status_category(name),
            }
            for i, (name, color, complete) in enumerate(state.kind(kind).statuses)
        ]


def seed_timeline(n_ticks: int, now_ms: int) -> tuple[int, int, int]:
    """``(base, unit, end)`` of the seeded timeline: record *i* is created ``i`` units after
    ``base`` (one hour, from 2019-01-01, unless that would not fit) and updated up to
    ``MAX_UPDATE_DAYS * 24`` units later, and nothing is after ``end``, a day before the
    sandbox's now: seeded data never comes from the future, however much of it there is."""
    end = now_ms - DAY_MS
    units = n_ticks + MAX_UPDATE_DAYS * 24
    if BASE_MS + units * HOUR_MS <= end:
        return BASE_MS, HOUR_MS, end
    if end - BASE_MS >= units:  # squeeze the timeline between 2019 and now
        return BASE_MS, (end - BASE_MS) // units, end
    return end - units * HOUR_MS, HOUR_MS, end  # a clock before 2019: end at now


def seed_state(state: SandboxState, n_products: int, n_releases: int, n_features: int) -> None:
    """Fill an empty ``state``: users, then per product its goals, initiatives, releases with
    their epics and features, ideas and custom table records; then teams and pivot reports."""
    rng = random.Random(f"seed:{state.seed}")
    seed_statuses(state)
    n_ticks = len(USER_NAMES) + n_products * (1 + 2 + 2 + n_releases * (1 + 2 + n_features) + 5 + 3)
    base, unit, end = seed_timeline(n_ticks, state.wall_ms())
    clock = [base]
    latest = [base]

    def tick(hours: int = 1) -> tuple[str, str]:
        clock[0] += hours * unit
        created = clock[0]
        updated = min(created + rng.randrange(0, MAX_UPDATE_DAYS) * 24 * unit, end)
        latest[0] = max(latest[0], updated)
        return fmt_ts(created), fmt_ts(updated)

    for i, name in enumerate(USER_NAMES):
        state.store("users", make_user(state, name, i, *tick()))
    users = state.snapshot("users")
    state.me_id = users[0]["id"]
    for p in range(1, n_products + 1):
        prod = make_product(state, p, *tick())
        state.store("products", prod)
        goals = []
        for _g in range(2):
            goal = make_goal(state, prod, None, *tick())
            state.store("goals", goal)
            goals.append(goal)
        inits = []
        for _s in range(2):
            init = make_initiative(state, prod, None, *tick(), goal=goals[len(inits) % 2])
            state.store("initiatives", init)
            inits.append(init)
        for r in range(n_releases):
            rel = make_release(state, prod, None, *tick(), released=(r == 0 and n_releases > 1))
            state.store("releases", rel)
            epics = []
            for _e in range(2):
                epic = make_epic(state, rel, None, *tick(), initiative=inits[len(epics) % 2])
                state.store("epics", epic)
                epics.append(epic)
            for f in range(n_features):
                feat = make_feature(
                    state,
                    rel,
                    f"{rng.choice(VERBS)} {rng.choice(NOUNS)} {f + 1}",
                    *tick(),
                    status=rng.choice(FEATURE_STATUSES)[0],
                    tags=rng.sample(TAGS, rng.randrange(0, 3)),
                    epic=epics[f % 2] if f % 3 else None,
                    initiative=inits[f % 2],
                    goal=goals[f % 2],
                    user=users[f % len(users)],
                    priority=rng.choice(["P1", "P2", "P3"]),
                )
                state.store("features", feat)
        for i in range(5):
            idea = make_idea(
                state,
                prod,
                f"Idea {i + 1} for {prod['name']}",
                *tick(),
                votes=rng.randrange(0, 50),
                status=rng.choice(IDEA_STATUSES)[0],
                tags=rng.sample(TAGS, rng.randrange(0, 3)),
            )
            state.store("ideas", idea)
        for c in range(3):
            name = CUSTOMERS[(p * 3 + c) % len(CUSTOMERS)]
            rec = make_table_record(
                state,
                prod,
                "customers",
                *tick(),
                values={"name": name, "website": f"www.{name.split()[0].lower()}.com"},
            )
            state.store("custom_object_records", rec)
    for t in range(2):
        state.store("teams", make_team(state, f"Team {t + 1}", None, users[t % len(users)]))
    seed_reports(state)
    state.advance_clock(latest[0])
