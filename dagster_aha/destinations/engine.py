"""The write engine: renders records, writes them concurrently, accounts for every one.

Guarantees:

* exactly one :class:`WriteOutcome` per input record, in input order; a bad record (not a
  mapping, missing ``name``/path param, non-JSON value) fails alone and the others are written;
* writes run on a bounded thread pool and every call goes through the client's shared rate
  limiter, so a large batch paces itself at the account limit instead of causing 429 storms;
* a POST whose result is unknown (:class:`AhaAmbiguousWriteError`: the connection broke after
  the request was sent) is **never** re-sent blindly: it is reported ``ambiguous``;
* with ``match_on`` the engine lists the create scope once per run (a few pages instead of one
  GET per record) and updates (``on_match="update"``: PUT to the record's update endpoint) or
  skips records that already exist. After an ambiguous POST it looks the key up with a targeted
  list call (``custom_fields[<key>]=<value>`` or ``q=<name>`` on the scope, filtered again
  locally): if the record is there the outcome is ``created`` (with its id); if it is verifiably
  absent the create is sent again, at most 3 attempts in all. Re-sending is safe only because
  absence was verified *after* the lost attempt, and never follows a read timeout (the server
  may still apply that attempt: the record is reported ``ambiguous``, retryable). Records
  sharing a key in one batch are written one after the other, so the second becomes an
  update/skip, never a duplicate, and a re-run of a whole batch updates instead of duplicating.
* a dry run renders every request (no look-ups, so upserts show as their create request).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dagster_aha.client.errors import (
    AhaAmbiguousWriteError,
    AhaConnectionError,
    AhaError,
    AhaNotFoundError,
    AhaRateLimitError,
    AhaResponseError,
    AhaServerError,
    AhaTimeoutError,
)
from dagster_aha.client.urls import quote_segment
from dagster_aha.destinations.destination import (
    AhaDestination,
    RecordError,
    RenderedRequest,
    match_value,
)
from dagster_aha.destinations.report import WriteOutcome, WriteReport

if TYPE_CHECKING:
    from dagster_aha.client import AhaClient

__all__ = [
    "DestinationCheck",
    "DestinationCheckItem",
    "check_destination",
    "sample_requests",
    "write_records",
]

LOOKUP_FIELDS = "id,reference_num,name,custom_fields,url"
#: With match_on, a create whose response was lost is re-sent only after a look-up verified
#: that the record does not exist, at most this many attempts in all.
_MAX_VERIFIED_CREATES = 3
_TRANSIENT = (AhaRateLimitError, AhaServerError, AhaTimeoutError, AhaConnectionError)
_STATUS_FOR_KIND = {"create": "created", "update": "updated", "delete": "deleted"}

# Which GET resolves a fixed path parameter in check_destination().
_RESOLVE_PATHS = {
    "release_id": "releases/{}",
    "product_id": "products/{}",
    "epic_id": "epics/{}",
    "goal_id": "goals/{}",
    "initiative_id": "initiatives/{}",
    "feature_id": "features/{}",
    "team_id": "teams/{}",
}


def _params(destination: AhaDestination) -> dict[str, str]:
    return {"disable_mailers": "true"} if destination.disable_mailers else {}


def _request_dict(destination: AhaDestination, method: str, path: str, body: Any) -> dict[str, Any]:
    return {"method": method, "path": path, "params": _params(destination), "body": body}


def _error_outcome(index: int, exc: BaseException, *, match_on: bool) -> WriteOutcome:
    if isinstance(exc, AhaAmbiguousWriteError):
        hint = (
            "the create may or may not have happened (no response); it was not re-sent"
            if not match_on
            else "the create may or may not have happened and the look-up could not settle it"
        )
        return WriteOutcome(
            index=index,
            status="ambiguous",
            http_status=exc.status,
            error=f"{exc} ({hint})",
            retryable=match_on,
        )
    if isinstance(exc, AhaResponseError) and exc.status is not None and 200 <= exc.status < 300:
        # The server answered 2xx (the write was applied) but its body could not be read.
        return WriteOutcome(
            index=index,
            status="ambiguous",
            http_status=exc.status,
            error=f"{exc} (the server accepted the write but its answer could not be read: "
            "the record id is unknown; it was not re-sent)",
            retryable=match_on,
        )
    if isinstance(exc, AhaError):
        return WriteOutcome(
            index=index,
            status="failed",
            http_status=exc.status,
            error=str(exc),
            retryable=isinstance(exc, _TRANSIENT),
        )
    return WriteOutcome(
        index=index, status="failed", error=f"{type(exc).__name__}: {exc}", retryable=False
    )


def _parse_response(
    response: Any, wrap_key: str | None
) -> tuple[str | None, str | None, str | None]:
    if not isinstance(response, Mapping):
        return None, None, None
    body = response.get(wrap_key) if wrap_key and wrap_key in response else response
    if not isinstance(body, Mapping):
        return None, None, None
    raw_id = body.get("id")
    ref = body.get("reference_num")
    url = body.get("url")
    return (
        str(raw_id) if raw_id is not None else None,
        str(ref) if ref is not None else None,
        str(url) if url is not None else None,
    )


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.value += n


@dataclass
class _ScopeIndex:
    """Existing records of one create scope, keyed by the upsert key."""

    path: str
    list_key: str
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    loaded: bool = False
    error: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Writer:
    def __init__(
        self,
        client: AhaClient,
        destination: AhaDestination,
        calls: _Counter,
    ) -> None:
        self.client = client
        self.dest = destination
        self.calls = calls
        self.wrap_key = destination.effective_wrap_key
        self._scopes: dict[str, _ScopeIndex] = {}
        self._scopes_lock = threading.Lock()

    # -- HTTP ---------------------------------------------------------------------------

    def send(self, method: str, path: str, body: Any) -> Any:
        self.calls.add()
        return self.client.request(
            method,
            path,
            json=body,
            disable_mailers=self.dest.disable_mailers,
            headers=self.dest.headers or None,
        )

    # -- plain writes -------------------------------------------------------------------

    def write_one(self, index: int, req: RenderedRequest) -> WriteOutcome:
        request = _request_dict(self.dest, req.method, req.path, req.body)
        try:
            response = self.send(req.method, req.path, req.body)
        except AhaNotFoundError as exc:
            if req.kind == "delete":
                return WriteOutcome(
                    index=index,
                    status="skipped",
                    http_status=exc.status,
                    error=f"nothing to delete: {exc} (already deleted?)",
                    request=request,
                )
            out = _error_outcome(index, exc, match_on=False)
            out.request = request
            return out
        except Exception as exc:
            out = _error_outcome(index, exc, match_on=False)
            out.request = request
            return out
        return self._success(index, req, response, response, request)

    def _success(
        self,
        index: int,
        req: RenderedRequest,
        response: Any,
        item: Any,
        request: dict[str, Any],
    ) -> WriteOutcome:
        """The outcome of a written record: ``item`` is its part of ``response``."""
        aha_id, ref, url = _parse_response(item, self.wrap_key)
        if req.kind != "create" and aha_id is None and req.path_values:
            aha_id = next(iter(req.path_values.values()), None)  # the record the path named
        return WriteOutcome(
            index=index,
            status=_STATUS_FOR_KIND[req.kind],  # type: ignore[arg-type]
            http_status=204 if response is None else 200,
            aha_id=aha_id,
            reference_num=ref,
            url=url,
            request=request,
        )

    # -- upsert -------------------------------------------------------------------------

    def scope(self, path: str) -> _ScopeIndex:
        with self._scopes_lock:
            idx = self._scopes.get(path)
            if idx is None:
                endpoint = self.dest.endpoint
                assert endpoint is not None
                idx = _ScopeIndex(path=path, list_key=endpoint.list_key)
                self._scopes[path] = idx
            return idx

    def _list_scope(self, idx: _ScopeIndex) -> None:
        """List the scope into the index (once per run); caller holds ``idx.lock``."""
        assert self.dest.match_on is not None
        found: dict[str, dict[str, Any]] = {}

        def on_page(_info: Any) -> None:
            self.calls.add()

        for rec in self.client.iter_records(
            idx.path, fields=LOOKUP_FIELDS, record_key=idx.list_key, on_page=on_page
        ):
            key = match_value(rec, self.dest.match_on)
            if key is not None and key not in found:
                found[key] = rec
        idx.entries.update(found)
        idx.loaded = True
        idx.error = None

    def ensure_loaded(self, idx: _ScopeIndex) -> None:
        with idx.lock:
            if idx.loaded:
                return
            if idx.error is not None:
                raise idx.error
            try:
                self._list_scope(idx)
            except Exception as exc:
                idx.error = exc
                raise

    def recheck(self, idx: _ScopeIndex, key: str) -> dict[str, Any] | None:
        """Targeted look-up of one key after an ambiguous create.

        Asks the scope's list endpoint for the key only (``custom_fields[<key>]=<value>`` or
        ``q=<name>``), so the answer is a page or two and cannot miss a record that was created
        while a long listing was in flight. Results are always filtered here too: a server that
        ignores the filter just returns more records.
        """
        assert self.dest.match_on is not None
        match_on = self.dest.match_on
        params: dict[str, str] = {}
        if match_on.startswith("custom_fields."):
            params[f"custom_fields[{match_on[len('custom_fields.') :]}]"] = key
        elif match_on == "name":
            params["q"] = key

        def on_page(_info: Any) -> None:
            self.calls.add()

        found: dict[str, Any] | None = None
        for rec in self.client.iter_records(
            idx.path,
            params=params,
            fields=LOOKUP_FIELDS,
            record_key=idx.list_key,
            on_page=on_page,
        ):
            if match_value(rec, match_on) == key:
                found = rec
                break
        if found is not None:
            self.remember(idx, key, found)
        return found

    def lookup(self, idx: _ScopeIndex, key: str) -> dict[str, Any] | None:
        with idx.lock:
            return idx.entries.get(key)

    def remember(self, idx: _ScopeIndex, key: str, rec: dict[str, Any]) -> None:
        with idx.lock:
            idx.entries.setdefault(key, rec)

    def upsert_one(self, index: int, req: RenderedRequest) -> WriteOutcome:
        assert req.match_key is not None
        endpoint = self.dest.endpoint
        assert endpoint is not None
        key = req.match_key
        idx = self.scope(req.path)
        post_request = _request_dict(self.dest, req.method, req.path, req.body)
        try:
            self.ensure_loaded(idx)
        except Exception as exc:
            return WriteOutcome(
                index=index,
                status="failed",
                http_status=getattr(exc, "status", None),
                error=f"could not list existing records of {req.path} for match_on "
                f"{self.dest.match_on!r} (nothing was created): {exc}",
                retryable=isinstance(exc, _TRANSIENT),
                match_key=key,
                request=post_request,
            )
        existing = self.lookup(idx, key)
        if existing is not None:
            return self._on_match(index, req, existing)

        last_exc: BaseException | None = None
        timeout = getattr(self.client, "timeout", None)
        for _attempt in range(_MAX_VERIFIED_CREATES):
            sent_at = time.monotonic()
            try:
                response = self.send(req.method, req.path, req.body)
            except AhaAmbiguousWriteError as exc:
                last_exc = exc
                # After a read timeout the server may still be applying the create: absence
                # now does not prove it will stay absent, so it is never re-sent then.
                # A gateway timeout (504) is the server-side twin of a read timeout.
                timed_out = exc.status == 504 or (
                    timeout is not None and time.monotonic() - sent_at >= timeout
                )
                try:
                    found = self.recheck(idx, key)
                except Exception as lookup_exc:
                    out = _error_outcome(index, exc, match_on=True)
                    out.error = f"{out.error}; look-up failed: {lookup_exc}"
                    out.match_key, out.request = key, post_request
                    return out
                if found is not None:
                    aha_id, ref, url = _parse_response(found, None)
                    return WriteOutcome(
                        index=index,
                        status="created",
                        aha_id=aha_id,
                        reference_num=ref,
                        url=url,
                        error=None,
                        match_key=key,
                        request=post_request,
                    )
                if timed_out:
                    out = _error_outcome(index, exc, match_on=True)
                    out.error = f"{out.error}; timed out, so it may still be applied: not re-sent"
                    out.match_key, out.request = key, post_request
                    return out
                # Verified absent after the failed attempt: creating again cannot duplicate.
                continue
            except Exception as exc:
                out = _error_outcome(index, exc, match_on=True)
                out.match_key, out.request = key, post_request
                return out
            aha_id, ref, url = _parse_response(response, self.wrap_key)
            self.remember(idx, key, {"id": aha_id, "reference_num": ref, "url": url, "name": None})
            return WriteOutcome(
                index=index,
                status="created",
                http_status=200,
                aha_id=aha_id,
                reference_num=ref,
                url=url,
                match_key=key,
                request=post_request,
            )
        assert last_exc is not None
        out = _error_outcome(index, last_exc, match_on=True)
        out.match_key, out.request = key, post_request
        return out

    def _on_match(
        self, index: int, req: RenderedRequest, existing: Mapping[str, Any]
    ) -> WriteOutcome:
        aha_id, ref, url = _parse_response(existing, None)
        if self.dest.on_match == "skip" or aha_id is None:
            return WriteOutcome(
                index=index,
                status="skipped",
                aha_id=aha_id,
                reference_num=ref,
                url=url,
                error=None if aha_id else "matched a record without an id",
                match_key=req.match_key,
            )
        endpoint = self.dest.endpoint
        assert endpoint is not None and endpoint.update_path is not None
        values = {k: quote_segment(v) for k, v in req.path_values.items()}
        path = endpoint.update_path.format(id=quote_segment(aha_id), **values)
        request = _request_dict(self.dest, "PUT", path, req.body)
        try:
            response = self.send("PUT", path, req.body)
        except Exception as exc:
            out = _error_outcome(index, exc, match_on=True)
            out.match_key, out.request, out.aha_id = req.match_key, request, aha_id
            return out
        new_id, new_ref, new_url = _parse_response(response, self.wrap_key)
        return WriteOutcome(
            index=index,
            status="updated",
            http_status=200,
            aha_id=new_id or aha_id,
            reference_num=new_ref or ref,
            url=new_url or url,
            match_key=req.match_key,
            request=request,
        )

    # -- batches ------------------------------------------------------------------------

    def write_batch(self, items: Sequence[tuple[int, RenderedRequest]]) -> list[WriteOutcome]:
        first = items[0][1]
        assert self.dest.batch_property is not None
        body = {**self.dest.batch_extra, self.dest.batch_property: [r.body for _, r in items]}
        request = _request_dict(self.dest, first.method, first.path, body)
        try:
            response = self.send(first.method, first.path, body)
        except Exception as exc:
            outs = []
            for i, _ in items:
                out = _error_outcome(i, exc, match_on=False)
                out.request = request
                outs.append(out)
            return outs
        per_item: list[Any] = []
        if isinstance(response, Mapping):
            listed = response.get(self.dest.batch_property)
            if isinstance(listed, list) and len(listed) == len(items):
                per_item = listed
        return [
            self._success(i, req, response, per_item[pos] if per_item else None, request)
            for pos, (i, req) in enumerate(items)
        ]


def _render_all(
    destination: AhaDestination, records: Sequence[Any]
) -> tuple[dict[int, RenderedRequest], dict[int, WriteOutcome]]:
    rendered: dict[int, RenderedRequest] = {}
    failed: dict[int, WriteOutcome] = {}
    for i, record in enumerate(records):
        try:
            rendered[i] = destination.render(record)
        except RecordError as exc:
            failed[i] = WriteOutcome(index=i, status="failed", error=str(exc), retryable=False)
        except RecursionError:
            failed[i] = WriteOutcome(
                index=i, status="failed", error="record is nested too deeply", retryable=False
            )
    return rendered, failed


def _batches(
    destination: AhaDestination, rendered: Mapping[int, RenderedRequest]
) -> list[list[tuple[int, RenderedRequest]]]:
    assert destination.batch_size is not None
    by_path: dict[tuple[str, str], list[tuple[int, RenderedRequest]]] = {}
    for i in sorted(rendered):
        req = rendered[i]
        by_path.setdefault((req.method, req.path), []).append((i, req))
    out: list[list[tuple[int, RenderedRequest]]] = []
    size = destination.batch_size
    for group in by_path.values():
        out.extend(group[pos : pos + size] for pos in range(0, len(group), size))
    return out


def write_records(
    client: AhaClient | None,
    destination: AhaDestination,
    records: Iterable[Any],
    *,
    dry_run: bool | None = None,
    max_concurrency: int | None = None,
    on_outcome: Callable[[WriteOutcome], None] | None = None,
) -> WriteReport:
    """Write ``records`` to ``destination`` and account for every one of them.

    Args:
        client: the :class:`AhaClient` (may be ``None`` for a dry run).
        destination: where and how to write.
        records: upstream records (mappings); anything else becomes a ``failed`` outcome.
        dry_run: override ``destination.dry_run`` for this call: render only, no HTTP.
        max_concurrency: worker threads (default: ``destination.max_concurrency``, else the
            client's ``max_concurrency``); the client's shared limiter paces the requests.
        on_outcome: called (from worker threads) as each outcome is known, e.g. for logging.

    Returns:
        A :class:`WriteReport` with one outcome per record, in input order.
    """
    started = time.monotonic()
    items = list(records)
    is_dry = destination.dry_run if dry_run is None else dry_run
    rendered, outcomes = _render_all(destination, items)

    if is_dry:
        for i, req in rendered.items():
            outcomes[i] = WriteOutcome(
                index=i,
                status="dry_run",
                match_key=req.match_key,
                request=_request_dict(destination, req.method, req.path, req.body),
            )
        if destination.batching and rendered:
            for batch in _batches(destination, rendered):
                assert destination.batch_property is not None
                body = {
                    **destination.batch_extra,
                    destination.batch_property: [r.body for _, r in batch],
                }
                for i, req in batch:
                    outcomes[i].request = _request_dict(destination, req.method, req.path, body)
        return _finish(destination, items, outcomes, started, 0, None, None, True)

    if client is None:
        raise ValueError("write_records needs a client unless dry_run=True")

    stats_before = _stats(client)
    calls = _Counter()
    writer = _Writer(client, destination, calls)
    workers = max_concurrency or destination.max_concurrency or client.max_concurrency or 4
    workers = max(1, int(workers))

    def report(outs: Iterable[WriteOutcome]) -> list[WriteOutcome]:
        outs = list(outs)
        if on_outcome is not None:
            for o in outs:
                on_outcome(o)
        return outs

    if on_outcome is not None:
        for o in outcomes.values():
            on_outcome(o)

    units: list[Callable[[], list[WriteOutcome]]] = []
    if destination.batching:
        for batch in _batches(destination, rendered):
            units.append(lambda b=batch: report(writer.write_batch(b)))
    elif destination.match_on is not None:
        groups: dict[tuple[str, str], list[int]] = {}
        for i in sorted(rendered):
            req = rendered[i]
            assert req.match_key is not None
            groups.setdefault((req.path, req.match_key), []).append(i)

        def run_group(indices: list[int]) -> list[WriteOutcome]:
            return report(writer.upsert_one(i, rendered[i]) for i in indices)

        for indices in groups.values():
            units.append(lambda ix=indices: run_group(ix))
    else:
        for i in sorted(rendered):
            units.append(lambda i=i: report([writer.write_one(i, rendered[i])]))

    if units:
        with ThreadPoolExecutor(
            max_workers=min(workers, len(units)), thread_name_prefix="aha-write"
        ) as pool:
            for outs in pool.map(lambda unit: unit(), units):
                for o in outs:
                    outcomes[o.index] = o

    stats_after = _stats(client)
    attempts = rate_limited = None
    if stats_before is not None and stats_after is not None:
        attempts = stats_after[0] - stats_before[0]
        rate_limited = stats_after[1] - stats_before[1]
    return _finish(
        destination, items, outcomes, started, calls.value, attempts, rate_limited, False
    )


def _stats(client: AhaClient) -> tuple[int, int] | None:
    try:
        s = client.stats
        return int(s.requests), int(s.rate_limited)
    except Exception:
        return None


def _finish(
    destination: AhaDestination,
    items: list[Any],
    outcomes: Mapping[int, WriteOutcome],
    started: float,
    calls: int,
    attempts: int | None,
    rate_limited: int | None,
    dry: bool,
) -> WriteReport:
    ordered = [outcomes[i] for i in range(len(items))]
    return WriteReport(
        destination=destination.label,
        outcomes=ordered,
        records=items,
        requests=calls,
        http_attempts=attempts,
        rate_limited=rate_limited,
        duration_seconds=time.monotonic() - started,
        dry_run=dry,
    )


# -- sample requests ------------------------------------------------------------------------


def sample_requests(
    destination: AhaDestination,
    records: Iterable[Any],
    n: int = 3,
    *,
    base_url: str | None = None,
) -> list[dict[str, Any]]:
    """The exact requests the first ``n`` requests would be, without any HTTP.

    Each item: ``{"index", "method", "path", "params", "url", "headers", "body"}`` where
    ``path`` is relative to ``/api/v1/``, ``url`` is the path with its query string (absolute
    when ``base_url`` is given) and ``headers`` are the non-auth headers. A record that cannot be
    rendered yields ``{"index", "error"}`` instead, so the panel shows why.
    """
    items = list(records)
    rendered, failed = _render_all(destination, items)
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        **destination.headers,
    }
    query = "?disable_mailers=true" if destination.disable_mailers else ""
    prefix = (base_url.rstrip("/") if base_url else "") + "/api/v1/"

    def entry(index: int, req: RenderedRequest, body: Any) -> dict[str, Any]:
        return {
            "index": index,
            "method": req.method,
            "path": req.path,
            "params": _params(destination),
            "url": f"{prefix}{req.path}{query}",
            "headers": dict(headers)
            if body is not None or req.method != "DELETE"
            else {k: v for k, v in headers.items() if k != "Content-Type"},
            "body": body,
        }

    out: list[dict[str, Any]] = []
    if destination.batching:
        for batch in _batches(destination, rendered):
            assert destination.batch_property is not None
            body = {
                **destination.batch_extra,
                destination.batch_property: [r.body for _, r in batch],
            }
            out.append({**entry(batch[0][0], batch[0][1], body), "indices": [i for i, _ in batch]})
        errors = [{"index": i, "error": o.error} for i, o in sorted(failed.items())]
        return (out + errors)[:n]
    for i in range(len(items)):
        if len(out) >= n:
            break
        if i in rendered:
            out.append(entry(i, rendered[i], rendered[i].body))
        else:
            out.append({"index": i, "error": failed[i].error})
    return out


# -- endpoint test --------------------------------------------------------------------------


@dataclass
class DestinationCheckItem:
    name: str
    passed: bool
    message: str


@dataclass
class DestinationCheck:
    """Result of :func:`check_destination` (no writes are made)."""

    destination: str
    checks: list[DestinationCheckItem] = field(default_factory=list)
    sample: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def add(self, name: str, passed: bool, message: str) -> None:
        self.checks.append(DestinationCheckItem(name, passed, message))

    def failures(self) -> list[DestinationCheckItem]:
        return [c for c in self.checks if not c.passed]

    def __str__(self) -> str:
        lines = [f"{self.destination}: {'OK' if self.ok else 'FAILED'}"]
        lines += [
            f"  [{'pass' if c.passed else 'FAIL'}] {c.name}: {c.message}" for c in self.checks
        ]
        return "\n".join(lines)


def _resolve_param(
    client: AhaClient, name: str, value: str, values: Mapping[str, str]
) -> tuple[bool, str]:
    if name == "custom_table_key":
        product = values.get("product_id")
        if product is None:
            return False, "cannot check a custom table without a product_id"
        path = f"products/{quote_segment(product)}/custom_objects/{quote_segment(value)}/records"
        client.request("GET", path, params={"per_page": 1})
        return True, f"custom table {value!r} exists in product {product!r}"
    template = _RESOLVE_PATHS.get(name)
    if template is None:
        return True, f"{name}={value!r} not checked (no known look-up for this parameter)"
    response = client.request("GET", template.format(quote_segment(value)))
    label = name[: -len("_id")]
    found_name = None
    if isinstance(response, Mapping):
        inner = response.get(label)
        if isinstance(inner, Mapping):
            found_name = inner.get("name") or inner.get("reference_num")
    return True, f"{label} {value!r} exists" + (f" ({found_name})" if found_name else "")


def check_destination(
    client: AhaClient,
    destination: AhaDestination,
    record: Mapping[str, Any] | None = None,
) -> DestinationCheck:
    """Test a destination without writing (the Nexla "endpoint test").

    Checks, each reported pass/fail with a message: the credentials work (``GET me``); every
    fixed path parameter resolves (the release/product/epic/goal/initiative or custom table
    exists); with ``record``, the parameters taken from it resolve too and it renders to a
    valid body (``result.sample`` holds the request). Only GETs are sent.
    """
    result = DestinationCheck(destination=destination.label)
    try:
        me = client.me()
        who = me.get("name") if isinstance(me, Mapping) else None
        result.add("credentials", True, f"GET me succeeded{f' as {who}' if who else ''}")
    except Exception as exc:
        result.add("credentials", False, f"GET me failed: {exc}")
        return result

    values: dict[str, str] = {}
    from_record: set[str] = set()
    for name, spec in destination.path_params.items():
        if isinstance(spec, str | int):
            values[name] = str(spec)
    rendered: RenderedRequest | None = None
    if record is not None:
        try:
            rendered = destination.render(record)
            result.add(
                "record renders", True, f"{rendered.method} {rendered.path} with a valid body"
            )
            result.sample = _request_dict(
                destination, rendered.method, rendered.path, rendered.body
            )
            for name, value in rendered.path_values.items():
                if name not in values:
                    values[name] = value
                    from_record.add(name)
        except RecordError as exc:
            result.add("record renders", False, str(exc))
    for name in destination.path_param_names:
        if name not in values:
            result.add(f"path param {name}", True, "taken from each record: checked per record")
            continue
        try:
            passed, message = _resolve_param(client, name, values[name], values)
        except AhaError as exc:
            passed, message = False, f"{name}={values[name]!r} does not resolve: {exc}"
        source = " (from the record)" if name in from_record else ""
        result.add(f"path param {name}", passed, message + source)
    return result
