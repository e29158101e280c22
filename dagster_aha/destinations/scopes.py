"""``match_on`` look-ups: the create scope listed once per run, and targeted key look-ups.

Keys are compared exactly (:func:`same_key`); a listed record that lacks the match field makes
absence unverifiable (the server ignored ``fields=``): the engine then refuses to create.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dagster_aha.destinations.destination import AhaDestination, RenderedRequest
from dagster_aha.destinations.keys import MISSING, index_key, is_blank, raw_match_value, same_key
from dagster_aha.destinations.outcomes import Counter

if TYPE_CHECKING:
    from dagster_aha.client import AhaClient

LOOKUP_FIELDS = "id,reference_num,name,custom_fields,url"


class Unverifiable(Exception):
    """A listing did not return the match field: absence of a key cannot be verified."""


@dataclass
class ScopeIndex:
    """Existing records of one create scope, keyed by the exact upsert value."""

    path: str
    list_key: str
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_field: int = 0
    """Listed records that did not carry the match field at all."""
    loaded: bool = False
    error: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class ScopeLookups:
    """Listing and look-up methods of the writer (needs ``client``, ``dest``, ``calls``)."""

    client: AhaClient
    dest: AhaDestination
    calls: Counter

    def __init__(self) -> None:
        self.lookup_fields = LOOKUP_FIELDS
        """``fields=`` of look-ups: the id fields plus every field sent (for the diff)."""
        self._scopes: dict[str, ScopeIndex] = {}
        self._scopes_lock = threading.Lock()

    def scope(self, path: str) -> ScopeIndex:
        with self._scopes_lock:
            idx = self._scopes.get(path)
            if idx is None:
                endpoint = self.dest.endpoint
                assert endpoint is not None
                idx = ScopeIndex(path=path, list_key=endpoint.list_key)
                self._scopes[path] = idx
            return idx

    def _on_page(self, _info: Any) -> None:
        self.calls.add()

    def ensure_loaded(self, idx: ScopeIndex) -> None:
        """List the scope into the index, once per run."""
        assert self.dest.match_on is not None
        with idx.lock:
            if idx.loaded:
                return
            if idx.error is not None:
                raise idx.error
            try:
                for rec in self.client.iter_records(
                    idx.path,
                    fields=self.lookup_fields,
                    record_key=idx.list_key,
                    on_page=self._on_page,
                ):
                    raw = raw_match_value(rec, self.dest.match_on)
                    if raw is MISSING:
                        idx.missing_field += 1
                    elif not is_blank(raw):
                        idx.entries.setdefault(index_key(raw), rec)
            except Exception as exc:
                idx.error = exc
                raise
            idx.loaded = True

    def _lookup_params(self, raw: Any) -> dict[str, Any]:
        match_on = self.dest.match_on or ""

        def text(v: Any) -> str:
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, float) and v.is_integer():
                return str(int(v))
            return str(v)

        value: Any = [text(v) for v in raw] if isinstance(raw, list | tuple) else text(raw)
        if match_on.startswith("custom_fields."):
            return {f"custom_fields[{match_on[len('custom_fields.') :]}]": value}
        if match_on == "name":
            return {"q": value}
        return {}

    def recheck(self, idx: ScopeIndex, req: RenderedRequest) -> dict[str, Any] | None:
        """Targeted look-up of one key (``custom_fields[<key>]=<raw value>`` or ``q=<name>``);
        results are filtered again here, exactly, so a server that ignores the filter only
        returns more records. Raises :class:`Unverifiable` when records lack the field."""
        assert self.dest.match_on is not None
        missing = 0
        for rec in self.client.iter_records(
            idx.path,
            params=self._lookup_params(req.match_raw),
            fields=self.lookup_fields,
            record_key=idx.list_key,
            on_page=self._on_page,
        ):
            raw = raw_match_value(rec, self.dest.match_on)
            if raw is MISSING:
                missing += 1
            elif same_key(raw, req.match_raw):
                with idx.lock:
                    idx.entries.setdefault(index_key(raw), rec)
                return rec
        if missing:
            raise Unverifiable(self._unverifiable(idx.path, missing))
        return None

    def _unverifiable(self, path: str, missing: int) -> str:
        return (
            f"could not verify that no record with this key exists: the listing of {path} "
            f"did not return {self.dest.match_on!r} for {missing} record(s) (the server "
            "ignored fields=?); nothing was created"
        )
