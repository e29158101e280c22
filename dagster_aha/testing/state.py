"""The records an :class:`~dagster_aha.testing.AhaSandbox` holds, and how they change.

Records are built from Aha!'s own OpenAPI response examples (``templates.json``, copied from
``aha-openapi.json``): same keys, same nesting, same types. Stored records are never mutated in
place (copy-on-write), so request threads can serialize a snapshot without holding the lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

HOST = "https://sandbox.aha.io"
API = f"{HOST}/api/v1"

#: plural collection name -> singular wrapper key
KINDS: dict[str, str] = {
    "products": "product",
    "releases": "release",
    "features": "feature",
    "epics": "epic",
    "ideas": "idea",
    "goals": "goal",
    "initiatives": "initiative",
    "users": "user",
    "teams": "team",
    "custom_object_records": "custom_object_record",
}
SINGULAR_TO_PLURAL: dict[str, str] = {v: k for k, v in KINDS.items()}

#: keys of the thin list representation (no ``fields=``), from the spec's list examples
COMPACT_KEYS: dict[str, tuple[str, ...] | None] = {
    "products": (
        "id",
        "reference_prefix",
        "name",
        "product_line",
        "created_at",
        "url",
        "workspace_type",
    ),
    "releases": (
        "id",
        "product_id",
        "reference_num",
        "name",
        "start_date",
        "release_date",
        "parking_lot",
        "created_at",
        "url",
        "resource",
        "integration_fields",
        "owner",
        "project",
    ),
    "features": ("id", "reference_num", "name", "created_at", "url", "resource", "product_id"),
    "epics": ("id", "reference_num", "name", "created_at", "url", "resource"),
    "ideas": ("id", "name", "product_id", "votes"),
    "goals": (
        "id",
        "name",
        "reference_num",
        "color",
        "position",
        "effort",
        "value",
        "progress",
        "progress_source",
        "created_at",
        "updated_at",
        "url",
        "resource",
        "product_id",
        "description",
        "success_metric",
        "time_frame",
        "project",
        "initiatives",
        "releases",
        "features",
        "key_results",
        "comments_count",
        "custom_fields",
    ),
    "initiatives": ("id", "name", "reference_num", "status", "effort", "value", "presented"),
    "users": None,  # full records in lists (as in the spec's example)
    "teams": None,
    "custom_object_records": None,
}

#: kinds that support the ``q`` / ``tag`` list filters
Q_KINDS = frozenset({"features", "epics", "ideas", "releases", "initiatives", "products"})
TAG_KINDS = frozenset({"features", "epics", "ideas", "releases"})

FEATURE_STATUSES: list[tuple[str, str, bool]] = [
    ("New", "#dce7c6", False),
    ("Under consideration", "#e5e5e5", False),
    ("Designed", "#ecdd8f", False),
    ("Ready to develop", "#c5e1f7", False),
    ("In development", "#f9c87f", False),
    ("Ready to ship", "#b3e5b8", False),
    ("Shipped", "#4ba84f", True),
    ("Will not implement", "#999999", True),
]
RELEASE_STATUSES = [
    ("New", "#dce7c6", False),
    ("In progress", "#ecdd8f", False),
    ("Shipped", "#4ba84f", True),
]
IDEA_STATUSES = [
    ("Needs review", "#dce7c6", False),
    ("In progress", "#ecdd8f", False),
    ("Shipped", "#4ba84f", True),
    ("Will not implement", "#999999", True),
]
INITIATIVE_STATUSES = [
    ("Not Started", "#dce7c6", False),
    ("On Track", "#ecdd8f", False),
    ("At Risk", "#f27474", False),
    ("Done", "#4ba84f", True),
]
GOAL_STATUSES = INITIATIVE_STATUSES
STATUS_CATALOG = {
    "features": FEATURE_STATUSES,
    "epics": FEATURE_STATUSES,
    "releases": RELEASE_STATUSES,
    "ideas": IDEA_STATUSES,
    "initiatives": INITIATIVE_STATUSES,
    "goals": GOAL_STATUSES,
}
VERBS = ["Improve", "Add", "Redesign", "Fix"]
NOUNS = ["login", "search", "export", "billing", "reports"]
TAGS = ["Engineering", "Design", "API", "Infrastructure", "Mobile", "Security"]
USER_NAMES = ["Mary Humpty", "John Smith", "Ada Lovelace", "Grace Hopper", "Alan Turing"]
CUSTOMERS = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries"]
TABLES = {"customers": [("name", "Name", "string"), ("website", "Website", "url")]}

_TEMPLATES_TEXT: str | None = None
_SCALARS = (str, int, float, bool)


class SandboxError(Exception):
    """An API error the server turns into a JSON error response."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _templates() -> dict[str, Any]:
    global _TEMPLATES_TEXT
    if _TEMPLATES_TEXT is None:
        _TEMPLATES_TEXT = (
            resources.files("dagster_aha.testing").joinpath("templates.json").read_text("utf-8")
        )
    return json.loads(_TEMPLATES_TEXT)


def _copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def fmt_ts(ms: int) -> str:
    """Epoch milliseconds -> ``2019-01-01T00:00:00.000Z``."""
    d = dt.datetime.fromtimestamp(ms / 1000.0, tz=dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ts(value: str) -> str:
    """Parse an ISO 8601 timestamp (``updated_since``) to the stored, sortable format."""
    v = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        d = dt.datetime.fromisoformat(v)
    except ValueError:
        try:
            d = dt.datetime.combine(dt.date.fromisoformat(v), dt.time())
        except ValueError as e:
            raise SandboxError(400, f"Invalid updated_since: {value[:40]!r}") from e
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    ms = round(d.timestamp() * 1000)
    return fmt_ts(ms)


_BASE_MS = int(dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
_HOUR = 3600 * 1000


class SandboxState:
    """All records of one sandbox account. Thread-safe."""

    def __init__(
        self,
        *,
        seed: int = 0,
        products: int = 2,
        releases_per_product: int = 3,
        features_per_release: int = 40,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self._tpl = _templates()
        self._tpl_json = {k: json.dumps(v) for k, v in self._tpl.items()}
        self._records: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        self._refs: dict[str, dict[str, str]] = {k: {} for k in KINDS}
        self._counter = 0
        self._ref_counters: dict[str, int] = {}
        self._last_ms = 0
        self._statuses: dict[str, list[dict[str, Any]]] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        self.me_id = ""
        if data is not None:
            self._restore(data)
        else:
            self._seed(products, releases_per_product, features_per_release)

    # ------------------------------------------------------------------ ids, clocks, refs
    def new_id(self) -> str:
        with self.lock:
            self._counter += 1
            h = hashlib.sha256(f"aha-sandbox:{self.seed}:{self._counter}".encode()).digest()
            return str(int.from_bytes(h[:8], "big") % (9 * 10**18) + 10**18)

    def next_ref(self, key: str) -> int:
        with self.lock:
            n = self._ref_counters.get(key, 0) + 1
            self._ref_counters[key] = n
            return n

    def _next_reference(self, prod: dict[str, Any], letter: str) -> tuple[int, str]:
        """The next number and reference of a product's records of one kind: ``PRJ1-E-3``
        for ``letter="E"``; features have no letter (``PRJ1-12``)."""
        key = f"{prod['reference_prefix']}-{letter}" if letter else prod["reference_prefix"]
        n = self.next_ref(key)
        return n, f"{key}-{n}"

    def now(self) -> str:
        """A strictly increasing wall-clock timestamp (for ``updated_at`` bumps)."""
        with self.lock:
            ms = max(int(time.time() * 1000), self._last_ms + 1)
            self._last_ms = ms
            return fmt_ts(ms)

    def _status(self, kind: str, name: str) -> dict[str, Any]:
        for s in self._statuses[kind]:
            if s["name"].lower() == name.lower() or s["id"] == name:
                return dict(s)
        raise SandboxError(422, f"Workflow status {name[:60]!r} is not valid for {kind}")

    def _new(self, template: str) -> dict[str, Any]:
        return json.loads(self._tpl_json[template])

    # ------------------------------------------------------------------ storage
    def _store(self, kind: str, rec: dict[str, Any]) -> None:
        self._records[kind][rec["id"]] = rec
        ref = rec.get("reference_prefix") if kind == "products" else rec.get("reference_num")
        if isinstance(ref, str):
            self._refs[kind][ref.upper()] = rec["id"]

    def _remove(self, kind: str, rec_id: str) -> None:
        rec = self._records[kind].pop(rec_id)
        ref = rec.get("reference_prefix") if kind == "products" else rec.get("reference_num")
        if isinstance(ref, str):
            self._refs[kind].pop(ref.upper(), None)

    def find(self, kind: str, id_or_ref: str) -> dict[str, Any] | None:
        """The stored record (do not mutate it) by numeric id or reference key."""
        kind = SINGULAR_TO_PLURAL.get(kind, kind)
        recs = self._records[kind]
        rec = recs.get(id_or_ref)
        if rec is None:
            rid = self._refs[kind].get(id_or_ref.upper())
            rec = recs.get(rid) if rid else None
        return rec

    def require(self, kind: str, id_or_ref: str) -> dict[str, Any]:
        rec = self.find(kind, id_or_ref)
        if rec is None:
            raise SandboxError(404, "Record not found")
        return rec

    def snapshot(self, kind: str) -> list[dict[str, Any]]:
        """The stored records of a kind, in creation order (shared objects: do not mutate)."""
        kind = SINGULAR_TO_PLURAL.get(kind, kind)
        with self.lock:
            return list(self._records[kind].values())

    # public, copying helpers for tests
    def records(self, kind: str) -> list[dict[str, Any]]:
        """Copies of every record of ``kind`` (plural or singular name), in creation order."""
        return _copy(self.snapshot(kind))

    def custom_field_counts(self, kind: str, key: str) -> Counter[str]:
        """How many records of ``kind`` hold each value of custom field ``key``: a count above
        1 is a duplicate (e.g. two features created for one upstream ``external_id``)."""
        out: Counter[str] = Counter()
        for rec in self.snapshot(kind):
            for cf in rec.get("custom_fields") or []:
                if cf.get("key") == key and cf.get("value") is not None:
                    out[str(cf["value"])] += 1
        return out

    def get(self, kind: str, id_or_ref: str) -> dict[str, Any] | None:
        """A copy of one record, or None."""
        with self.lock:
            rec = self.find(kind, id_or_ref)
            return _copy(rec) if rec is not None else None

    def count(self, kind: str) -> int:
        kind = SINGULAR_TO_PLURAL.get(kind, kind)
        with self.lock:
            return len(self._records[kind])

    def me(self) -> dict[str, Any]:
        with self.lock:
            user = self._records["users"][self.me_id]
            products = list(self._records["products"].values())
        out = self._new("me")
        out.update(
            id=user["id"],
            name=user["name"],
            email=user["email"],
            created_at=user["created_at"],
            updated_at=user["updated_at"],
            product_roles=[
                {
                    "role": 20,
                    "role_description": "Owner",
                    "product_id": p["id"],
                    "product_name": p["name"],
                }
                for p in products
            ],
            preferences={"current_product_id": int(products[0]["id"]) if products else None},
        )
        out["accounts"][0]["account"].update(name="Sandbox", domain="sandbox")
        return out

    # ------------------------------------------------------------------ snapshot
    def to_data(self) -> dict[str, Any]:
        with self.lock:
            return _copy(
                {
                    "format": "dagster-aha-sandbox/1",
                    "seed": self.seed,
                    "counter": self._counter,
                    "ref_counters": self._ref_counters,
                    "last_ms": self._last_ms,
                    "me_id": self.me_id,
                    "statuses": self._statuses,
                    "reports": self.reports,
                    "records": {k: list(v.values()) for k, v in self._records.items()},
                }
            )

    def _restore(self, data: dict[str, Any]) -> None:
        if data.get("format") != "dagster-aha-sandbox/1":
            raise ValueError("not a dagster-aha sandbox snapshot (missing format marker)")
        self.seed = int(data["seed"])
        self._counter = int(data["counter"])
        self._ref_counters = {k: int(v) for k, v in data["ref_counters"].items()}
        self._last_ms = int(data["last_ms"])
        self.me_id = str(data["me_id"])
        self._statuses = data["statuses"]
        self.reports = data["reports"]
        for kind in KINDS:
            for rec in data["records"].get(kind, []):
                self._store(kind, rec)

    # ------------------------------------------------------------------ seeding
    def _seed(self, n_products: int, n_releases: int, n_features: int) -> None:
        rng = random.Random(f"seed:{self.seed}")
        for kind, catalog in STATUS_CATALOG.items():
            self._statuses[kind] = [
                {
                    "id": self.new_id(),
                    "name": name,
                    "position": i + 1,
                    "complete": complete,
                    "color": color,
                    "workflow_status_category": None,
                }
                for i, (name, color, complete) in enumerate(catalog)
            ]
        clock = [_BASE_MS]

        def tick(hours: int = 1) -> tuple[str, str]:
            clock[0] += hours * _HOUR
            created = clock[0]
            updated = created + rng.randrange(0, 400) * 24 * _HOUR
            return fmt_ts(created), fmt_ts(updated)

        for i, name in enumerate(USER_NAMES):
            self._store("users", self._make_user(name, i, *tick()))
        users = self.snapshot("users")
        self.me_id = users[0]["id"]
        for p in range(1, n_products + 1):
            prod = self._make_product(p, *tick())
            self._store("products", prod)
            goals = []
            for _g in range(2):
                goal = self._make_goal(prod, None, *tick())
                self._store("goals", goal)
                goals.append(goal)
            inits = []
            for _s in range(2):
                init = self._make_initiative(prod, None, *tick(), goal=goals[len(inits) % 2])
                self._store("initiatives", init)
                inits.append(init)
            for r in range(n_releases):
                rel = self._make_release(prod, None, *tick(), released=(r == 0 and n_releases > 1))
                self._store("releases", rel)
                epics = []
                for _e in range(2):
                    epic = self._make_epic(rel, None, *tick(), initiative=inits[len(epics) % 2])
                    self._store("epics", epic)
                    epics.append(epic)
                for f in range(n_features):
                    feat = self._make_feature(
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
                    self._store("features", feat)
            for i in range(5):
                idea = self._make_idea(
                    prod,
                    f"Idea {i + 1} for {prod['name']}",
                    *tick(),
                    votes=rng.randrange(0, 50),
                    status=rng.choice(IDEA_STATUSES)[0],
                    tags=rng.sample(TAGS, rng.randrange(0, 3)),
                )
                self._store("ideas", idea)
            for c in range(3):
                name = CUSTOMERS[(p * 3 + c) % len(CUSTOMERS)]
                rec = self._make_table_record(
                    prod,
                    "customers",
                    *tick(),
                    values={"name": name, "website": f"www.{name.split()[0].lower()}.com"},
                )
                self._store("custom_object_records", rec)
        for t in range(2):
            self._store("teams", self._make_team(f"Team {t + 1}", None, users[t % len(users)]))
        features_report = self.new_id()
        by_release = self.new_id()
        self.reports = {
            features_report: {
                "id": features_report,
                "name": "Features by product, release and status",
                "rows": ["product", "release"],
                "columns": ["status"],
                "values": ["reference_num", "name"],
            },
            by_release: {
                "id": by_release,
                "name": "Features by release",
                "rows": ["release"],
                "columns": ["product"],
                "values": ["reference_num", "name", "status"],
            },
        }

    # ------------------------------------------------------------------ record factories
    def _note(self, owner_id: str, owner_type: str, body: str, ts: str) -> dict[str, Any]:
        return {
            "id": self.new_id(),
            "body": body,
            "notable_id": owner_id,
            "notable_type": owner_type,
            "editor_version": 2,
            "created_at": ts,
            "updated_at": ts,
            "attachments": [],
        }

    @staticmethod
    def _user_ref(u: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": u["id"],
            "name": u["name"],
            "email": u["email"],
            "created_at": u["created_at"],
            "updated_at": u["updated_at"],
        }

    @staticmethod
    def _project_ref(p: dict[str, Any]) -> dict[str, Any]:
        return {k: p[k] for k in COMPACT_KEYS["products"] or ()}

    @staticmethod
    def _goal_refs(goal: dict[str, Any] | None) -> list[dict[str, Any]]:
        """A record's ``goals``: the compact goal reference the examples show, or none."""
        if not goal:
            return []
        keys = ("id", "name", "url", "resource", "created_at")
        return [{k: goal[k] for k in keys}]

    @staticmethod
    def _ref(rec: dict[str, Any], kind: str) -> dict[str, Any]:
        return {
            "id": rec["id"],
            "name": rec["name"],
            "reference_num": rec["reference_num"],
            "created_at": rec["created_at"],
            "url": rec["url"],
            "resource": rec["resource"],
        }

    def _release_ref(self, rel: dict[str, Any]) -> dict[str, Any]:
        return {k: rel[k] for k in COMPACT_KEYS["releases"] or ()}

    def _any_user(self) -> dict[str, Any]:
        return self._records["users"][self.me_id]

    def _make_user(self, name: str, i: int, created: str, updated: str) -> dict[str, Any]:
        r = self._new("user")
        r.update(
            id=self.new_id(),
            name=name,
            email=f"{name.lower().replace(' ', '.')}@example.com",
            timezone="UTC",
            created_at=created,
            updated_at=updated,
            accessed_at=updated,
            product_roles=[],
            user_roles=[],
            administrator=(i == 0),
        )
        return r

    def _make_product(self, p: int, created: str, updated: str) -> dict[str, Any]:
        r = self._new("product")
        pid, prefix = self.new_id(), f"PRJ{p}"
        r.update(
            id=pid,
            reference_prefix=prefix,
            name=f"Project {p}",
            product_line=False,
            created_at=created,
            updated_at=updated,
            description=self._note(pid, "Project", f"Workspace {p}", created),
            url=f"{HOST}/projects/{prefix}",
            resource=f"{API}/products/{prefix}",
            children=[],
            workspace_type="product_workspace",
        )
        self._ref_counters.setdefault(prefix, 0)
        return r

    def _make_release(
        self,
        prod: dict[str, Any],
        name: str | None,
        created: str,
        updated: str,
        *,
        released: bool = False,
    ) -> dict[str, Any]:
        r = self._new("release")
        rid = self.new_id()
        n, ref = self._next_reference(prod, "R")
        owner = self._user_ref(self._any_user())
        day = created[:10]
        r.update(
            id=rid,
            product_id=prod["id"],
            reference_num=ref,
            name=name or f"Release {n}",
            start_date=day,
            end_date=None,
            development_started_on=day,
            release_date=day,
            external_release_date=day,
            released=released,
            parking_lot=False,
            master_release=False,
            released_on=day if released else None,
            created_at=created,
            updated_at=updated,
            position=n,
            theme=self._note(rid, "Release", f"Theme of {ref}", created),
            url=f"{HOST}/releases/{ref}",
            resource=f"{API}/releases/{ref}",
            integration_fields=[],
            custom_fields=[],
            comments_count=0,
            workflow_status=self._status("releases", "Shipped" if released else "New"),
            owner=owner,
            goals=[],
            key_results=[],
            initiatives=[],
            project=self._project_ref(prod),
            created_by_user=owner,
        )
        return r

    def _make_feature(
        self,
        rel: dict[str, Any],
        name: str,
        created: str,
        updated: str,
        *,
        status: str = "New",
        tags: list[str] | None = None,
        epic: dict[str, Any] | None = None,
        initiative: dict[str, Any] | None = None,
        goal: dict[str, Any] | None = None,
        user: dict[str, Any] | None = None,
        priority: str | None = None,
    ) -> dict[str, Any]:
        prod = self._records["products"][rel["product_id"]]
        r = self._new("feature")
        fid = self.new_id()
        n, ref = self._next_reference(prod, "")
        user = user or self._any_user()
        r.update(
            id=fid,
            name=name,
            reference_num=ref,
            initiative_reference_num=initiative["reference_num"] if initiative else None,
            release_reference_num=rel["reference_num"],
            epic_reference_num=epic["reference_num"] if epic else None,
            position=n,
            score=(n * 7) % 100,
            created_at=created,
            updated_at=updated,
            start_date=created[:10],
            due_date=rel["release_date"],
            product_id=prod["id"],
            progress=None,
            status_changed_on=None,
            created_by_user=self._user_ref(user),
            workflow_status=self._status("features", status),
            project=self._project_ref(prod),
            description=self._note(fid, "Feature", f"<p>{name}</p>", created),
            attachments=[],
            url=f"{HOST}/features/{ref}",
            resource=f"{API}/features/{ref}",
            release=self._release_ref(rel),
            master_feature=self._ref(epic, "epics") if epic else None,
            epic=self._ref(epic, "epics") if epic else None,
            initiative=self._ref(initiative, "initiatives") if initiative else None,
            goals=self._goal_refs(goal),
            assigned_to_user={"default_assignee": False, **self._user_ref(user)},
            requirements=[],
            key_results=[],
            feature_links=[],
            comments_count=0,
            feature_only_original_estimate=None,
            feature_only_remaining_estimate=None,
            feature_only_work_done=None,
        )
        r["belongs_to_release_phase"] = None
        self._set_tags(r, tags or [])
        r["integration_fields"] = (
            [
                {
                    "id": self.new_id(),
                    "name": "key",
                    "value": f"JRA-{n}",
                    "integration_id": 204584239,
                    "service_name": "jira",
                    "created_at": created,
                }
            ]
            if n % 4 == 0
            else []
        )
        r["custom_fields"] = [
            self._custom_field("external_id", None, created, type_="string"),
            *([self._custom_field("priority", priority, created)] if priority else []),
        ]
        return r

    def _make_epic(
        self,
        rel: dict[str, Any],
        name: str | None,
        created: str,
        updated: str,
        *,
        initiative: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        prod = self._records["products"][rel["product_id"]]
        r = self._new("epic")
        eid = self.new_id()
        n, ref = self._next_reference(prod, "E")
        user = self._any_user()
        r.update(
            id=eid,
            name=name or f"Epic {n}",
            reference_num=ref,
            position=n,
            score=(n * 13) % 100,
            created_at=created,
            updated_at=updated,
            start_date=created[:10],
            due_date=rel["release_date"],
            product_id=prod["id"],
            progress=None,
            status_changed_on=None,
            created_by_user=self._user_ref(user),
            workflow_status=self._status("epics", "New"),
            project=self._project_ref(prod),
            description=self._note(eid, "Epic", f"<p>Epic {n}</p>", created),
            attachments=[],
            integration_fields=[],
            url=f"{HOST}/epics/{ref}",
            resource=f"{API}/epics/{ref}",
            release=self._release_ref(rel),
            initiative=self._ref(initiative, "initiatives") if initiative else None,
            initiative_reference_num=initiative["reference_num"] if initiative else None,
            assigned_to_user={"default_assignee": False, **self._user_ref(user)},
            features=[],
            goals=[],
            key_results=[],
            epic_links=[],
            comments_count=0,
            custom_fields=[],
        )
        self._set_tags(r, [])
        return r

    def _make_idea(
        self,
        prod: dict[str, Any],
        name: str,
        created: str,
        updated: str,
        *,
        votes: int = 0,
        status: str = "Needs review",
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        r = self._new("idea")
        iid = self.new_id()
        _, ref = self._next_reference(prod, "I")
        r.update(
            id=iid,
            name=name,
            reference_num=ref,
            product_id=prod["id"],
            votes=votes,
            initial_votes=0,
            endorsements_count=0,
            comments_count=0,
            score=votes,
            created_at=created,
            updated_at=updated,
            status_changed_at=created,
            workflow_status=self._status("ideas", status),
            description=self._note(iid, "Ideas::Idea", f"<p>{name}</p>", created),
            url=f"{HOST}/ideas/ideas/{ref}",
            resource=f"{API}/ideas/{ref}",
            product=self._project_ref(prod),
            feature=None,
            assigned_to_user=None,
            integration_fields=[],
            custom_fields=[],
            categories=[],
            duplicates=[],
        )
        self._set_tags(r, tags or [])
        return r

    def _make_goal(
        self, prod: dict[str, Any], name: str | None, created: str, updated: str
    ) -> dict[str, Any]:
        r = self._new("goal")
        gid = self.new_id()
        n, ref = self._next_reference(prod, "G")
        r.update(
            id=gid,
            name=name or f"Goal {n}",
            reference_num=ref,
            product_id=prod["id"],
            position=n,
            effort=10 * n,
            value=5 * n,
            progress=None,
            created_at=created,
            updated_at=updated,
            project=self._project_ref(prod),
            description=self._note(gid, "StrategicImperative", f"Goal {n}", created),
            url=f"{HOST}/strategic_imperatives/{ref}",
            resource=f"{API}/goals/{ref}",
            initiatives=[],
            releases=[],
            features=[],
            key_results=[],
            comments_count=0,
            custom_fields=[],
            parent=None,
            parents=[],
        )
        r["success_metric"].update(name=f"Metric {n}", description=None)
        r["success_metric"]["workflow_status"] = self._status("goals", "Not Started")
        r["success_metric"]["workflow_status_times"] = []
        return r

    def _make_initiative(
        self,
        prod: dict[str, Any],
        name: str | None,
        created: str,
        updated: str,
        *,
        goal: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        r = self._new("initiative")
        sid = self.new_id()
        n, ref = self._next_reference(prod, "S")
        user = self._any_user()
        r.update(
            id=sid,
            name=name or f"Initiative {n}",
            reference_num=ref,
            product_id=prod["id"],
            status="not_started",
            effort=10 * n,
            value=5 * n,
            presented=True,
            score=n,
            position=n,
            progress=None,
            start_date=None,
            end_date=None,
            created_at=created,
            updated_at=updated,
            workflow_status=self._status("initiatives", "Not Started"),
            description=self._note(sid, "Initiative", f"Initiative {n}", created),
            project=self._project_ref(prod),
            created_by_user=self._user_ref(user),
            assigned_to_user=None,
            attachments=[],
            integration_fields=[],
            custom_fields=[],
            epic=[],
            master_features=[],
            features=[],
            releases=[],
            key_results=[],
            goals=self._goal_refs(goal),
            url=f"{HOST}/initiatives/{ref}",
            resource=f"{API}/initiatives/{ref}",
            comments_count=0,
        )
        return r

    def _make_team(
        self, name: str, product: dict[str, Any] | None, member: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        r = self._new("team")
        member = member or self._any_user()
        r.update(
            id=self.new_id(),
            name=name,
            project=self._project_ref(product) if product else None,
            custom_fields=[],
            team_members_count=1,
            team_members={
                "id": self.new_id(),
                "name": member["name"],
                "email": member["email"],
                "user_id": member["id"],
                "virtual": False,
            },
        )
        r["schedule"]["id"] = self.new_id()
        return r

    def _make_table_record(
        self,
        prod: dict[str, Any],
        key: str,
        created: str,
        updated: str,
        *,
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        r = self._new("custom_object_record")
        user = self._any_user()
        r.update(
            id=self.new_id(),
            product_id=prod["id"],
            key=key,
            created_at=created,
            updated_at=updated,
            custom_fields=[],
            custom_object_links=[],
            linked_records=[],
            created_by_user={"id": user["id"], "name": user["name"], "email": user["email"]},
        )
        for fkey, fname, ftype in TABLES.get(key, []):
            if values and fkey in values:
                cf = self._custom_field(fkey, values[fkey], created, type_=ftype)
                cf["name"] = fname
                r["custom_fields"].append(cf)
        return r

    def _custom_field(
        self, key: str, value: Any, ts: str, *, type_: str | None = None
    ) -> dict[str, Any]:
        if type_ is None:
            type_ = (
                "array"
                if isinstance(value, list)
                else "number"
                if isinstance(value, (int, float)) and not isinstance(value, bool)
                else "string"
            )
        stable = int(hashlib.sha256(f"cf:{key}".encode()).hexdigest()[:8], 16)
        return {
            "id": stable,
            "key": key,
            "name": key.replace("_", " ").capitalize(),
            "updatedAt": ts[:19] + "Z",
            "type": type_,
            "value": value,
        }

    def _set_tags(self, rec: dict[str, Any], tags: Iterable[str]) -> None:
        names = [t.strip() for t in tags if str(t).strip()]
        rec["tags"] = names
        rec["full_tags"] = [
            {
                "id": int(hashlib.sha256(f"tag:{t}".encode()).hexdigest()[:7], 16),
                "name": t,
                "color": "#e09052",
            }
            for t in names
        ]

    # ------------------------------------------------------------------ writes
    def _merge_custom_fields(self, rec: dict[str, Any], value: Any, ts: str) -> None:
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, list):
            items = []
            for item in value:
                if not isinstance(item, dict) or "key" not in item:
                    raise SandboxError(400, "custom_fields array items need 'key' and 'value'")
                items.append((str(item["key"]), item.get("value")))
        else:
            raise SandboxError(400, "custom_fields must be an object or an array")
        fields = list(rec.get("custom_fields") or [])
        for key, val in items:
            for i, cf in enumerate(fields):
                if cf.get("key") == key:
                    fields[i] = {**cf, "value": val, "updatedAt": ts[:19] + "Z"}
                    break
            else:
                fields.append(self._custom_field(str(key), val, ts))
        rec["custom_fields"] = fields

    def _find_user(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            value = value.get("email") or value.get("id")
        for u in self._records["users"].values():
            if value in (u["id"], u["email"]):
                return u
        raise SandboxError(422, "Assigned user not found")

    def apply_changes(self, kind: str, rec: dict[str, Any], changes: dict[str, Any]) -> None:
        """Apply a (partial) write body to a private copy ``rec``; bumps ``updated_at``."""
        ts = self.now()
        for key, value in changes.items():
            if key == "custom_fields":
                self._merge_custom_fields(rec, value, ts)
            elif key == "custom_object_links":
                if not isinstance(value, dict):
                    raise SandboxError(400, "custom_object_links must be an object")
                if kind == "custom_object_records":
                    rec["custom_object_links"] = [
                        {
                            "key": k,
                            "record_type": "CustomObjectRecord",
                            "record_ids": [int(x) for x in (v or [])],
                        }
                        for k, v in value.items()
                    ]
                else:
                    self._merge_custom_fields(
                        rec, {k: [str(x) for x in (v or [])] for k, v in value.items()}, ts
                    )
            elif key == "description":
                body = value.get("body") if isinstance(value, dict) else value
                desc = rec.get("description")
                if isinstance(desc, dict):
                    rec["description"] = {**desc, "body": body, "updated_at": ts}
                else:
                    rec["description"] = body
            elif key == "workflow_status":
                name = value.get("name") or value.get("id") if isinstance(value, dict) else value
                if not isinstance(name, str):
                    raise SandboxError(422, "workflow_status needs a name")
                if kind == "goals":
                    rec["success_metric"] = {
                        **rec["success_metric"],
                        "workflow_status": self._status(kind, name),
                    }
                else:
                    rec["workflow_status"] = self._status(kind, name)
            elif key == "tags" and kind in TAG_KINDS:
                tags = value.split(",") if isinstance(value, str) else list(value or [])
                self._set_tags(rec, [str(t) for t in tags])
            elif key == "release" and kind in ("features", "epics"):
                rel_key = value.get("id") if isinstance(value, dict) else value
                rel = self.find("releases", str(rel_key))
                if rel is None or rel["product_id"] != rec["product_id"]:
                    raise SandboxError(422, "Release not found in this product")
                rec["release"] = self._release_ref(rel)
                if kind == "features":
                    rec["release_reference_num"] = rel["reference_num"]
            elif key in ("epic", "master_feature") and kind == "features":
                epic = self.find("epics", str(value)) if value else None
                if value and epic is None:
                    raise SandboxError(422, "Epic not found")
                rec["epic"] = rec["master_feature"] = self._ref(epic, "epics") if epic else None
                rec["epic_reference_num"] = epic["reference_num"] if epic else None
            elif key == "assigned_to_user" and "assigned_to_user" in rec:
                rec["assigned_to_user"] = (
                    {"default_assignee": False, **self._user_ref(self._find_user(value))}
                    if value
                    else None
                )
            elif key == "success_metric" and kind == "goals" and isinstance(value, dict):
                sm = dict(rec["success_metric"])
                for k2, v2 in value.items():
                    if k2 == "workflow_status":
                        sm["workflow_status"] = self._status("goals", str(v2))
                    elif k2 in ("name", "description"):
                        sm[k2] = v2
                rec["success_metric"] = sm
            elif key == "time_frame" and "time_frame" in rec and isinstance(value, dict):
                rec["time_frame"] = {
                    "id": int(value.get("id") or 0) or rec["time_frame"]["id"],
                    "name": value.get("name", rec["time_frame"]["name"]),
                }
            elif key in (
                "id",
                "reference_num",
                "product_id",
                "created_at",
                "updated_at",
                "url",
                "resource",
                "project",
            ):
                continue
            elif (
                key in rec
                and (rec[key] is None or isinstance(rec[key], _SCALARS))
                and (value is None or isinstance(value, _SCALARS))
            ):
                rec[key] = value
        rec["updated_at"] = ts

    def create(
        self,
        kind: str,
        body: dict[str, Any],
        *,
        parent: dict[str, Any] | None = None,
        table_key: str | None = None,
    ) -> dict[str, Any]:
        """Create a record from a write body (the object under the wrapper key)."""
        name = body.get("name")
        if kind != "custom_object_records" and (not isinstance(name, str) or not name.strip()):
            raise SandboxError(422, "Name can't be blank")
        rest = {k: v for k, v in body.items() if k != "name"}
        with self.lock:
            ts = self.now()
            if kind == "features":
                assert parent is not None
                rec = self._make_feature(parent, str(name), ts, ts)
            elif kind == "epics":
                assert parent is not None
                rec = self._make_epic(parent, str(name), ts, ts)
            elif kind == "goals":
                assert parent is not None
                rec = self._make_goal(parent, str(name), ts, ts)
            elif kind == "initiatives":
                assert parent is not None
                rec = self._make_initiative(parent, str(name), ts, ts)
            elif kind == "teams":
                pid = rest.pop("product_id", None)
                prod = parent or (self.find("products", str(pid)) if pid else None)
                if pid and prod is None:
                    raise SandboxError(422, "Product not found")
                rec = self._make_team(str(name), prod)
                rec.update(capacity=0, hourly_rate=None)
            elif kind == "custom_object_records":
                assert parent is not None and table_key is not None
                rec = self._make_table_record(parent, table_key, ts, ts)
            else:
                raise SandboxError(404, f"Cannot create {kind}")
            self.apply_changes(kind, rec, rest)
            self._store(kind, rec)
            return rec

    def update(self, kind: str, id_or_ref: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply a partial write body to a stored record (copy-on-write)."""
        with self.lock:
            old = self.require(kind, id_or_ref)
            new = _copy(old)
            self.apply_changes(kind, new, changes)
            self._store(kind, new)
            return new

    def update_record(self, kind: str, id_or_ref: str, **changes: Any) -> dict[str, Any]:
        """Change a record "behind the client's back" (same rules as a PUT); bumps
        ``updated_at`` so ``updated_since`` sees it. Returns a copy of the new record."""
        plural = SINGULAR_TO_PLURAL.get(kind, kind)
        if plural not in KINDS:
            raise KeyError(f"unknown kind {kind!r}")
        try:
            return _copy(self.update(plural, id_or_ref, changes))
        except SandboxError as e:
            if e.status == 404:
                raise KeyError(f"{kind} {id_or_ref!r} not found") from None
            raise ValueError(e.message) from None

    def delete(self, kind: str, id_or_ref: str) -> None:
        with self.lock:
            rec = self.require(kind, id_or_ref)
            self._remove(kind, rec["id"])

    def delete_record(self, kind: str, id_or_ref: str) -> None:
        """Delete a record (KeyError if absent)."""
        try:
            self.delete(SINGULAR_TO_PLURAL.get(kind, kind), id_or_ref)
        except SandboxError:
            raise KeyError(f"{kind} {id_or_ref!r} not found") from None

    def default_release(self, prod: dict[str, Any]) -> dict[str, Any]:
        """The product's first unreleased release (where ``POST products/:id/epics`` goes)."""
        for rel in self.snapshot("releases"):
            if rel["product_id"] == prod["id"] and not rel["released"] and not rel["parking_lot"]:
                return rel
        raise SandboxError(422, "Product has no unreleased release")

    # ------------------------------------------------------------------ lists
    def select(
        self,
        kind: str,
        *,
        where: Callable[[dict[str, Any]], bool] | None,
        params: dict[str, str],
    ) -> list[dict[str, Any]]:
        """Filter a kind's records by a parent predicate and the query-string filters."""
        recs = self.snapshot(kind)
        if where is not None:
            recs = [r for r in recs if where(r)]
        since = params.get("updated_since")
        if since:
            cut = parse_ts(since)
            recs = [r for r in recs if (r.get("updated_at") or "") > cut]
        q = params.get("q")
        if q and kind in Q_KINDS:
            ql = q.lower()
            recs = [r for r in recs if ql in str(r.get("name") or "").lower()]
        tag = params.get("tag")
        if tag and kind in TAG_KINDS:
            tl = tag.lower()
            recs = [r for r in recs if any(t.lower() == tl for t in r.get("tags") or [])]
        status = params.get("workflow_status")
        if status and kind in STATUS_CATALOG:
            sl = status.lower()
            recs = [
                r
                for r in recs
                if isinstance(r.get("workflow_status"), dict)
                and sl
                in (str(r["workflow_status"]["name"]).lower(), str(r["workflow_status"]["id"]))
            ]
        email = params.get("email")
        if email and kind == "users":
            recs = [r for r in recs if r["email"].lower() == email.lower()]
        for pkey, pval in params.items():
            if pkey.startswith("custom_fields[") and pkey.endswith("]"):
                cf_key = pkey[len("custom_fields[") : -1]
                recs = [r for r in recs if _cf_matches(r, cf_key, pval)]
        return recs

    # ------------------------------------------------------------------ pivot reports
    def pivot_report(self, report_id: str, view: str, page: int, per_page: int) -> dict[str, Any]:
        report = self.reports.get(report_id)
        if report is None:
            raise SandboxError(404, "Record not found")
        with self.lock:
            products = dict(self._records["products"])
            releases = dict(self._records["releases"])
            features = list(self._records["features"].values())
        ctx = _PivotCtx(products, releases)
        features = [f for f in features if f["product_id"] in products]
        features.sort(
            key=lambda f: (
                list(products).index(f["product_id"]),
                _release_pos(releases, f),
                int(f["position"] or 0),
            )
        )
        if view == "list":
            fields = list(dict.fromkeys(report["rows"] + report["columns"] + report["values"]))
            total = len(features)
            pages = math.ceil(total / per_page)
            chunk = features[(page - 1) * per_page : page * per_page]
            return {
                "pagination": [
                    {"total_records": total, "total_pages": pages, "current_page": page}
                ],
                "columns": [ctx.coldef(f) for f in fields],
                "rows": [[ctx.cell(f, feat) for f in fields] for feat in chunk],
            }
        return ctx.pivot(report, features)


def _release_pos(releases: dict[str, dict[str, Any]], feat: dict[str, Any]) -> int:
    rid = feat["release"]["id"] if isinstance(feat.get("release"), dict) else None
    keys = list(releases)
    return keys.index(rid) if rid in releases else len(keys)


def _cf_matches(rec: dict[str, Any], key: str, wanted: str) -> bool:
    for cf in rec.get("custom_fields") or []:
        if cf.get("key") == key:
            v = cf.get("value")
            if isinstance(v, list):
                return wanted in [str(x) for x in v]
            return v is not None and str(v) == wanted
    return False


_FIELD_DEFS: dict[str, tuple[str, str, str]] = {
    "product": ("projects", "name", "Product name"),
    "release": ("releases", "name", "Release name"),
    "name": ("features", "name", "Feature name"),
    "reference_num": ("features", "reference_num", "Feature reference #"),
    "status": ("features", "status", "Feature status"),
}


class _PivotCtx:
    def __init__(self, products: dict[str, Any], releases: dict[str, Any]) -> None:
        self.products = products
        self.releases = releases

    @staticmethod
    def coldef(field: str) -> dict[str, str]:
        table, fld, title = _FIELD_DEFS[field]
        return {"table": table, "field": fld, "title": title}

    @staticmethod
    def _link(path: str, text: str) -> str:
        return f'<a data-drawer-url="{path}" href="{path}">{text}</a>'

    def key(self, field: str, feat: dict[str, Any]) -> str:
        if field == "product":
            return feat["product_id"]
        if field == "release":
            return feat["release"]["id"]
        if field == "status":
            return feat["workflow_status"]["id"]
        return feat["id"]

    def cell(self, field: str, feat: dict[str, Any]) -> dict[str, Any]:
        if field == "product":
            p = self.products[feat["product_id"]]
            link = self._link(f"/projects/{p['reference_prefix']}", p["name"])
            return {
                "id": int(p["id"]),
                "plain_value": p["name"],
                "html_value": link,
                "rich_value": p["name"],
            }
        if field == "release":
            rel = self.releases.get(feat["release"]["id"], feat["release"])
            link = self._link(f"/releases/{rel['reference_num']}", rel["name"])
            return {
                "id": int(rel["id"]),
                "plain_value": rel["name"],
                "html_value": link,
                "rich_value": rel["name"],
            }
        if field == "status":
            st = feat["workflow_status"]
            html = (
                f'<span class="status-pill" style="border-color: {st["color"]};">'
                f"{st['name']}</span>"
            )
            return {
                "id": int(feat["id"]),
                "plain_value": st["name"],
                "html_value": html,
                "rich_value": {"id": int(st["id"]), "name": st["name"], "color": "727272"},
            }
        value = str(feat[field])
        link = self._link(f"/features/{feat['reference_num']}", value)
        return {
            "id": int(feat["id"]),
            "plain_value": value,
            "html_value": link,
            "rich_value": value,
        }

    def pivot(self, report: dict[str, Any], features: list[dict[str, Any]]) -> dict[str, Any]:
        refs = iter(range(1, 1_000_000))
        fd_refs: dict[str, int] = {}
        pending: list[tuple[dict[str, Any], str]] = []

        def tree(
            dims: list[str], feats: list[dict[str, Any]]
        ) -> tuple[list[int], dict[str, Any], list[tuple[int, tuple]]]:
            nodes: dict[tuple, dict[str, Any]] = {}
            top: list[int] = []
            for feat in feats:
                path: tuple = ()
                parent: dict[str, Any] | None = None
                for dim in dims:
                    path = (*path, self.key(dim, feat))
                    node = nodes.get(path)
                    if node is None:
                        node = {
                            "ref": next(refs),
                            "parent_ref": parent["ref"] if parent else None,
                            "child_refs": [],
                            **self.cell(dim, feat),
                            "field_definition_ref": 0,
                        }
                        if dim == "status":
                            node["id"] = node["rich_value"]["id"]
                        pending.append((node, dim))
                        nodes[path] = node
                        if parent is None:
                            top.append(node["ref"])
                        else:
                            parent["child_refs"].append(node["ref"])
                    parent = node
            leaves = [(n["ref"], p) for p, n in nodes.items() if len(p) == len(dims)]
            return top, {str(n["ref"]): n for n in nodes.values()}, leaves

        def order(dims: list[str]) -> list[dict[str, Any]]:
            if "status" not in dims:
                return features
            return sorted(features, key=lambda f: int(f["workflow_status"]["position"] or 0))

        top_cols, cols, col_leaves = tree(report["columns"], order(report["columns"]))
        top_rows, rows, row_leaves = tree(report["rows"], order(report["rows"]))
        for field in [*report["columns"], *report["rows"], *report["values"]]:
            if field not in fd_refs:
                fd_refs[field] = next(refs)
        for node, dim in pending:
            node["field_definition_ref"] = fd_refs[dim]
        # leaf rows in depth-first order
        ordered_rows: list[tuple[int, tuple]] = []
        by_ref = dict(row_leaves)

        def walk(ref: int) -> None:
            node = rows[str(ref)]
            if not node["child_refs"] and ref in by_ref:
                ordered_rows.append((ref, by_ref[ref]))
            for child in node["child_refs"]:
                walk(child)

        for ref in top_rows:
            walk(ref)
        groups: dict[tuple[tuple, tuple], list[dict[str, Any]]] = {}
        for feat in features:
            rk = tuple(self.key(d, feat) for d in report["rows"])
            ck = tuple(self.key(d, feat) for d in report["columns"])
            groups.setdefault((rk, ck), []).append(feat)
        cells = [
            [
                [
                    [
                        {
                            **self.cell(v, feat),
                            "row_ref": rref,
                            "column_ref": cref,
                            "field_definition_ref": fd_refs[v],
                        }
                        for v in report["values"]
                    ]
                    for feat in groups.get((rpath, cpath), [])
                ]
                for cref, cpath in col_leaves
            ]
            for rref, rpath in ordered_rows
        ]
        return {
            "top_level_columns": top_cols,
            "columns": cols,
            "top_level_rows": top_rows,
            "rows": rows,
            "cells": cells,
            "field_definitions": {
                str(ref): {"ref": ref, **self.coldef(field)} for field, ref in fd_refs.items()
            },
        }
