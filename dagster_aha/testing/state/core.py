"""The store of one sandbox account: records by kind, ids, references, the clock, snapshots.

Nothing here knows a particular kind: what a kind's records look like, how they are created,
written and filtered is in ``dagster_aha/testing/kinds/<kind>.py``. Stored records are never
mutated in place (copy-on-write), so request threads can serialize a snapshot without holding
the lock.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.kinds import REGISTRY, SINGULAR_TO_PLURAL
from dagster_aha.testing.kinds.audits import record_audit
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.custom_object_records import default_custom_tables
from dagster_aha.testing.kinds.deletions import deletion_item
from dagster_aha.testing.kinds.pivot_reports import build_pivot_report
from dagster_aha.testing.kinds.users import build_me
from dagster_aha.testing.state import filters, writes
from dagster_aha.testing.state.clock import fmt_ts
from dagster_aha.testing.state.seed import seed_state

SNAPSHOT_FORMAT = "dagster-aha-sandbox/1"
_TEMPLATES_TEXT: str | None = None


def _templates() -> dict[str, Any]:
    """Aha!'s own OpenAPI response examples, one per record type (``templates.json``)."""
    global _TEMPLATES_TEXT
    if _TEMPLATES_TEXT is None:
        _TEMPLATES_TEXT = (
            resources.files("dagster_aha.testing").joinpath("templates.json").read_text("utf-8")
        )
    return json.loads(_TEMPLATES_TEXT)


def copy_json(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


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
        self._tpl_json = {k: json.dumps(v) for k, v in _templates().items()}
        self._tpl_cache: dict[tuple[str, frozenset[str]], bytes] = {}
        self._records: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in REGISTRY}
        self._refs: dict[str, dict[str, str]] = {k: {} for k in REGISTRY}
        # bumped on every store/remove of a kind: the parent index below is rebuilt after it
        self._generation: dict[str, int] = dict.fromkeys(REGISTRY, 0)
        # (kind, parent attribute) -> (generation, parent id -> its records in creation order)
        self._by_parent: dict[tuple[str, str], tuple[int, dict[str, list[dict[str, Any]]]]] = {}
        # kind -> (generation, its records in creation order), for lists without a parent
        self._all_cache: dict[str, tuple[int, list[dict[str, Any]]]] = {}
        # kinds without an OpenAPI example record (audits, tasks...) learn their keys from
        # what they store
        self._fields: dict[str, set[str]] = {
            k: set(self.template(spec.singular)) if spec.singular in self._tpl_json else set()
            for k, spec in REGISTRY.items()
        }
        self._counter = 0
        self._ref_counters: dict[str, int] = {}
        self._last_ms = 0
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        #: the recycle bin (``GET deletions``): one item per deleted record, oldest first
        self.deletions: list[dict[str, Any]] = []
        #: the deleted records themselves, by deletion id (what a restore brings back)
        self._binned: dict[str, tuple[str, dict[str, Any]]] = {}
        #: the account's custom tables: key -> {key, name, fields: [[key, name, type]],
        #: products: [product ids/prefixes] (absent: every product)}
        self.custom_tables: dict[str, dict[str, Any]] = default_custom_tables()
        self.me_id = ""
        #: False: ``GET audits`` ignores ``created_since`` / ``created_before`` (as a server
        #: that does not know them would), to test the client-side fallback
        self.audit_time_filters = True
        if data is not None:
            self._restore(data)
        else:
            seed_state(self, products, releases_per_product, features_per_release)

    # ------------------------------------------------------------------ kinds
    @staticmethod
    def kind(name: str) -> Kind:
        """The :class:`Kind` of a plural or singular name (KeyError if unknown)."""
        return REGISTRY[SINGULAR_TO_PLURAL.get(name, name)]

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

    def next_reference(self, prod: dict[str, Any], letter: str) -> tuple[int, str]:
        """The next number and reference of a product's records of one kind: ``PRJ1-E-3``
        for ``letter="E"``; features have no letter (``PRJ1-12``)."""
        key = f"{prod['reference_prefix']}-{letter}" if letter else prod["reference_prefix"]
        n = self.next_ref(key)
        return n, f"{key}-{n}"

    def reserve_references(self, prefix: str) -> None:
        """Start the reference counter of a new product prefix (``PRJ3``)."""
        self._ref_counters.setdefault(prefix, 0)

    @staticmethod
    def wall_ms() -> int:
        """The sandbox's now, in epoch milliseconds."""
        return int(time.time() * 1000)

    def now(self) -> str:
        """A strictly increasing timestamp for ``updated_at`` bumps: the wall clock, but always
        after every timestamp the state already holds (seeded or written)."""
        with self.lock:
            ms = max(self.wall_ms(), self._last_ms + 1)
            self._last_ms = ms
            return fmt_ts(ms)

    def advance_clock(self, ms: int) -> None:
        """Make every later :meth:`now` come after ``ms`` (the newest seeded timestamp)."""
        with self.lock:
            self._last_ms = max(self._last_ms, ms)

    def status(self, kind: str, name: str) -> dict[str, Any]:
        """A copy of ``kind``'s workflow status named (or with the id) ``name`` (else 422)."""
        for s in self.statuses[kind]:
            if s["name"].lower() == name.lower() or s["id"] == name:
                return dict(s)
        raise SandboxError(422, f"Workflow status {name[:60]!r} is not valid for {kind}")

    def template(self, name: str, *, replaced: Iterable[str] = ()) -> dict[str, Any]:
        """A fresh copy of the OpenAPI example record ``name`` (``"feature"``). Keys in
        ``replaced`` (which the caller overwrites) come as None, so copying is cheap: seeding
        60,000 features copies 60,000 templates."""
        key = (name, frozenset(replaced))
        blob = self._tpl_cache.get(key)
        if blob is None:
            skeleton = json.loads(self._tpl_json[name])
            for k in key[1]:
                if k in skeleton:
                    skeleton[k] = None
            blob = self._tpl_cache[key] = pickle.dumps(skeleton, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(blob)  # noqa: S301  (our own bytes)

    def any_user(self) -> dict[str, Any]:
        """The account's own user (``GET me``), the default owner/creator of new records."""
        return self._records["users"][self.me_id]

    # ------------------------------------------------------------------ storage
    def store(self, kind: str, rec: dict[str, Any]) -> None:
        self._records[kind][rec["id"]] = rec
        self._generation[kind] += 1
        if not self._fields[kind].issuperset(rec):
            self._fields[kind].update(rec)
        ref = rec.get(REGISTRY[kind].ref_key)
        if isinstance(ref, str):
            self._refs[kind][ref.upper()] = rec["id"]

    def _remove(self, kind: str, rec_id: str) -> None:
        rec = self._records[kind].pop(rec_id)
        self._generation[kind] += 1
        ref = rec.get(REGISTRY[kind].ref_key)
        if isinstance(ref, str):
            self._refs[kind].pop(ref.upper(), None)

    def known_fields(self, kind: str) -> frozenset[str]:
        """Every key a record of ``kind`` can have (what ``fields=`` may name)."""
        with self.lock:
            return frozenset(self._fields[SINGULAR_TO_PLURAL.get(kind, kind)])

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

    def records_by_id(self, kind: str) -> dict[str, dict[str, Any]]:
        """id -> stored record of a kind, in creation order (shared objects: do not mutate)."""
        with self.lock:
            return dict(self._records[SINGULAR_TO_PLURAL.get(kind, kind)])

    # public, copying helpers for tests
    def records(self, kind: str) -> list[dict[str, Any]]:
        """Copies of every record of ``kind`` (plural or singular name), in creation order."""
        return copy_json(self.snapshot(kind))

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
            return copy_json(rec) if rec is not None else None

    def count(self, kind: str) -> int:
        kind = SINGULAR_TO_PLURAL.get(kind, kind)
        with self.lock:
            return len(self._records[kind])

    def me(self) -> dict[str, Any]:
        """The ``user`` object of ``GET me``."""
        return build_me(self)

    # ------------------------------------------------------------------ snapshot
    def to_data(self) -> dict[str, Any]:
        with self.lock:
            return copy_json(
                {
                    "format": SNAPSHOT_FORMAT,
                    "seed": self.seed,
                    "counter": self._counter,
                    "ref_counters": self._ref_counters,
                    "last_ms": self._last_ms,
                    "me_id": self.me_id,
                    "statuses": self.statuses,
                    "reports": self.reports,
                    "custom_tables": self.custom_tables,
                    "records": {k: list(v.values()) for k, v in self._records.items()},
                    "deletions": self.deletions,
                    "binned": [[d, k, rec] for d, (k, rec) in self._binned.items()],
                }
            )

    def _restore(self, data: dict[str, Any]) -> None:
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError("not a dagster-aha sandbox snapshot (missing format marker)")
        self.seed = int(data["seed"])
        self._counter = int(data["counter"])
        self._ref_counters = {k: int(v) for k, v in data["ref_counters"].items()}
        self._last_ms = int(data["last_ms"])
        self.me_id = str(data["me_id"])
        self.statuses = data["statuses"]
        self.reports = data["reports"]
        self.custom_tables = data.get("custom_tables", default_custom_tables())
        for kind in REGISTRY:
            for rec in data["records"].get(kind, []):
                self.store(kind, rec)
        self.deletions = list(data.get("deletions", []))
        self._binned = {str(d): (str(k), rec) for d, k, rec in data.get("binned", [])}

    # ------------------------------------------------------------------ writes
    def apply_changes(self, kind: str, rec: dict[str, Any], changes: dict[str, Any]) -> None:
        """Apply a (partial) write body to a private copy ``rec``; bumps ``updated_at``."""
        writes.apply_changes(self, kind, rec, changes)

    def create(
        self,
        kind: str,
        body: dict[str, Any],
        *,
        parent: dict[str, Any] | None = None,
        table_key: str | None = None,
    ) -> dict[str, Any]:
        """Create a record from a write body (the object under the wrapper key)."""
        spec = REGISTRY[kind]
        name = body.get("name")
        if kind != "custom_object_records" and (not isinstance(name, str) or not name.strip()):
            raise SandboxError(422, "Name can't be blank")
        rest = {k: v for k, v in body.items() if k != "name"}
        with self.lock:
            ts = self.now()
            if spec.create is None:
                raise SandboxError(404, f"Cannot create {kind}")
            audited = {**({"name": name} if name is not None else {}), **rest}
            rec = spec.create(self, str(name), rest, parent, table_key, ts)
            self.apply_changes(kind, rec, rest)
            self.store(kind, rec)
            record_audit(self, kind, rec, "create", audited, rec.get("updated_at") or ts)
            return rec

    def update(self, kind: str, id_or_ref: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply a partial write body to a stored record (copy-on-write)."""
        with self.lock:
            old = self.require(kind, id_or_ref)
            new = copy_json(old)
            self.apply_changes(kind, new, changes)
            self.store(kind, new)
            record_audit(self, kind, new, "update", changes, new.get("updated_at") or self.now())
            return new

    def update_record(self, kind: str, id_or_ref: str, **changes: Any) -> dict[str, Any]:
        """Change a record "behind the client's back" (same rules as a PUT); bumps
        ``updated_at`` so ``updated_since`` sees it. Returns a copy of the new record."""
        plural = SINGULAR_TO_PLURAL.get(kind, kind)
        if plural not in REGISTRY:
            raise KeyError(f"unknown kind {kind!r}")
        try:
            return copy_json(self.update(plural, id_or_ref, changes))
        except SandboxError as e:
            if e.status == 404:
                raise KeyError(f"{kind} {id_or_ref!r} not found") from None
            raise ValueError(e.message) from None

    def delete(self, kind: str, id_or_ref: str) -> None:
        """Delete a record; it goes to the recycle bin (``GET deletions``)."""
        with self.lock:
            rec = self.require(kind, id_or_ref)
            self._remove(kind, rec["id"])
            item = deletion_item(self, kind, rec)
            self.deletions.append(item)
            self._binned[item["id"]] = (kind, rec)
            record_audit(self, kind, rec, "destroy", None, self.now())

    def delete_record(self, kind: str, id_or_ref: str) -> None:
        """Delete a record "behind the client's back", as a DELETE would (KeyError if absent);
        it is listed by ``GET deletions``."""
        try:
            self.delete(SINGULAR_TO_PLURAL.get(kind, kind), id_or_ref)
        except SandboxError:
            raise KeyError(f"{kind} {id_or_ref!r} not found") from None

    def restore(self, deletion_id: str) -> dict[str, Any]:
        """Restore a recycle-bin item (Aha!'s ``POST deletions/:id/restore``): the record comes
        back as it was, with its old ``updated_at`` (so ``updated_since`` does not see it), and
        leaves the bin. Returns the item, ``status: restore_in_progress`` (404 if unknown)."""
        with self.lock:
            binned = self._binned.pop(deletion_id, None)
            if binned is None:
                raise SandboxError(404, "Record not found")
            kind, rec = binned
            item = next(d for d in self.deletions if d["id"] == deletion_id)
            self.deletions.remove(item)
            self.store(kind, rec)
            return {**copy_json(item), "status": "restore_in_progress"}

    def restore_record(self, kind: str, id_or_ref: str) -> dict[str, Any]:
        """Restore a deleted record from the recycle bin by its kind and id (or reference), as
        Aha!'s restore would (see :meth:`restore`; KeyError if it is not in the bin). Returns a
        copy of the restored record."""
        plural = SINGULAR_TO_PLURAL.get(kind, kind)
        with self.lock:
            for deletion_id, (k, rec) in list(self._binned.items()):
                ref = rec.get(REGISTRY[k].ref_key)
                same_ref = isinstance(ref, str) and ref.upper() == id_or_ref.upper()
                if k == plural and (rec["id"] == id_or_ref or same_ref):
                    self.restore(deletion_id)
                    return copy_json(rec)
        raise KeyError(f"{kind} {id_or_ref!r} is not in the recycle bin")

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
        parent: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Filter a kind's records by a parent and the query-string filters.

        ``parent`` is ``(attribute, parent id)``: records whose ``attribute`` is the id
        (``product_id``) or an embedded ``{"id": ...}`` reference to it (``release``); looked
        up in an index kept per generation of the kind, so that a nested list of a large
        account costs its page, not a scan of every record. Without a parent, the kind's
        records come from a list kept per generation too (copying 60,000 of them cost 2 ms a
        page). ``where`` is any other predicate. The result may be such a shared list: read it,
        do not change it.
        """
        kind = SINGULAR_TO_PLURAL.get(kind, kind)
        recs = self._all_of(kind) if parent is None else self._children_of(kind, *parent)
        if where is not None:
            recs = [r for r in recs if where(r)]
        return filters.apply_filters(REGISTRY[kind], recs, params)

    def _all_of(self, kind: str) -> list[dict[str, Any]]:
        """Every record of ``kind`` in creation order: one list per generation (shared)."""
        with self.lock:
            gen = self._generation[kind]
            cached = self._all_cache.get(kind)
            if cached is None or cached[0] != gen:
                cached = self._all_cache[kind] = (gen, list(self._records[kind].values()))
            return cached[1]

    def _children_of(self, kind: str, attr: str, parent_id: str) -> list[dict[str, Any]]:
        """The records of ``kind`` whose ``attr`` names ``parent_id``: the index's own list."""
        with self.lock:
            gen = self._generation[kind]
            cached = self._by_parent.get((kind, attr))
            if cached is None or cached[0] != gen:
                index: dict[str, list[dict[str, Any]]] = {}
                for rec in self._records[kind].values():
                    ref = rec.get(attr)
                    pid = ref.get("id") if isinstance(ref, dict) else ref
                    if pid is not None:
                        index.setdefault(str(pid), []).append(rec)
                cached = self._by_parent[(kind, attr)] = (gen, index)
            return cached[1].get(str(parent_id), [])

    def children(self, kind: str, attr: str, parent_id: str) -> list[dict[str, Any]]:
        """The records of ``kind`` whose ``attr`` names ``parent_id``, in creation order."""
        return list(self._children_of(SINGULAR_TO_PLURAL.get(kind, kind), attr, parent_id))

    # ------------------------------------------------------------------ custom tables
    def add_custom_table(
        self,
        key: str,
        *,
        name: str | None = None,
        fields: list[tuple[str, str, str]] | None = None,
        products: list[str] | None = None,
        records: list[dict[str, Any]] | None = None,
    ) -> None:
        """Add a custom table to the account (an admin change "behind the client's back").

        ``fields`` are ``(key, name, type)``; ``products`` the ids/prefixes holding it (None:
        every product); ``records`` the ``custom_fields`` values of records to create in each
        of those products. ``GET custom_field_definitions`` then lists its fields.
        """
        with self.lock:
            table: dict[str, Any] = {
                "key": key,
                "name": name or key.replace("_", " ").capitalize(),
                "fields": [list(f) for f in (fields or [("name", "Name", "string")])],
            }
            if products is not None:
                table["products"] = list(products)
            self.custom_tables[key] = table
            for prod in self.snapshot("products"):
                if products is not None and not (
                    prod["id"] in products or prod["reference_prefix"] in products
                ):
                    continue
                for values in records or []:
                    self.create(
                        "custom_object_records",
                        {"custom_fields": values},
                        parent=prod,
                        table_key=key,
                    )

    # ------------------------------------------------------------------ pivot reports
    def pivot_report(self, report_id: str, view: str, page: int, per_page: int) -> dict[str, Any]:
        return build_pivot_report(self, report_id, view, page, per_page)
