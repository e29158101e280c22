"""Writing one record (or one batch): plain writes, ``match_on`` upserts, ledger resolution.

A create whose result is unknown (connection reset or timeout after sending, HTTP 500, 502,
503 or 504, an unreadable 2xx body) is ``ambiguous`` and never re-sent in the same run. With
``match_on`` it is looked up once right away (found: ``created``); the next run looks it up
again, after the backend had time to commit. With a ledger, a row a previous run left ``sent``
or ``ambiguous`` is resolved by that look-up (``match_on``), re-sent only once it is verifiably
absent ``settle_seconds`` after the lost attempt, and otherwise stays ``ambiguous``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dagster_aha.client.errors import AhaNotFoundError
from dagster_aha.client.urls import quote_segment
from dagster_aha.destinations.claims import Acquired, ClaimLost, LedgerSession
from dagster_aha.destinations.destination import AhaDestination, RenderedRequest
from dagster_aha.destinations.diff import FieldChange, changes_text, diff_bodies, diff_fields
from dagster_aha.destinations.keys import index_key
from dagster_aha.destinations.ledger import LedgerEntry
from dagster_aha.destinations.outcomes import (
    STATUS_FOR_KIND,
    TRANSIENT,
    Counter,
    error_outcome,
    parse_response,
)
from dagster_aha.destinations.render import request_dict
from dagster_aha.destinations.report import WriteOutcome
from dagster_aha.destinations.scopes import LOOKUP_FIELDS, ScopeIndex, ScopeLookups

if TYPE_CHECKING:
    from dagster_aha.client import AhaClient

__all__ = ["LOOKUP_FIELDS", "Counter", "Writer"]


def mark_retry(out: WriteOutcome, prev: LedgerEntry) -> WriteOutcome:
    """Label the outcome of a record that failed in an earlier run and was sent again."""
    if out.request is not None or out.status in ("created", "updated", "deleted"):
        out.retry = True
        note = f"retry: failed in run {prev.run_id or '?'} ({(prev.error or 'no reason')[:200]})"
        out.detail = f"{note}; {out.detail}" if out.detail else note
    return out


class Writer(ScopeLookups):
    def __init__(
        self,
        client: AhaClient,
        destination: AhaDestination,
        calls: Counter,
        session: LedgerSession | None = None,
    ) -> None:
        self.client = client
        self.dest = destination
        self.calls = calls
        self.session = session
        self.wrap_key = destination.effective_wrap_key
        super().__init__()

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

    def guard(self, req: RenderedRequest, kind: str) -> None:
        """Before a write goes out: mark the ledger row ``sent`` (raises ClaimLost)."""
        if self.session is not None:
            self.session.before_send(req, kind)

    def _request(self, req: RenderedRequest) -> dict[str, Any]:
        return request_dict(self.dest, req.method, req.path, req.body)

    # -- one record, ledger included ----------------------------------------------------

    def handle(self, index: int, req: RenderedRequest) -> WriteOutcome:
        if self.session is None:
            return self._plain(index, req)

        def not_sent(error: str) -> WriteOutcome:
            return WriteOutcome(
                index=index,
                status="failed",
                retryable=True,
                error=error,
                match_key=req.match_key,
                request=self._request(req),
            )

        try:
            got = self.session.acquire(index, req)
        except Exception as exc:
            return not_sent(
                f"the write ledger is unavailable ({type(exc).__name__}: {exc}); not sent"
            )
        if isinstance(got, WriteOutcome):
            got.request = got.request or self._request(req)
            return got
        try:
            out = self._claimed(index, req, got)
        except ClaimLost as exc:
            return not_sent(str(exc))
        except Exception as exc:  # the ledger failed while marking the record sent
            return not_sent(
                f"the write ledger failed before sending ({type(exc).__name__}: {exc}); not sent"
            )
        try:
            self.session.finish(req, out, got.previous)
        except Exception as exc:
            # the outcome stands; the row stays "sent", so a later run looks it up first
            note = f"the write ledger could not record this outcome ({type(exc).__name__})"
            out.detail = f"{out.detail}; {note}" if out.detail else note
        return out

    def _plain(self, index: int, req: RenderedRequest) -> WriteOutcome:
        if self.dest.match_on is not None:
            return self.upsert_one(index, req)
        return self.write_one(index, req)

    def _claimed(self, index: int, req: RenderedRequest, got: Acquired) -> WriteOutcome:
        prev = got.previous
        if prev is not None and prev.state == "failed":
            out = self._plain(index, req)  # definitely not applied: a retry
            return mark_retry(out, prev)
        if prev is None or prev.state == "claimed":
            return self._plain(index, req)  # never sent
        if prev.state == "succeeded" and prev.sent_hash == req.request_hash:
            assert self.session is not None
            return self.session.already_written(prev, index, req)
        if prev.state in ("sent", "ambiguous") and prev.request_kind == "create":
            return self._resolve_unknown_create(index, req, prev)
        if (
            prev.state == "succeeded"
            and req.kind == "create"
            and self.dest.match_on is None
            and prev.aha_id is not None
        ):
            # a keyed record (record_key) created before whose content changed: update it
            existing = {"id": prev.aha_id, "reference_num": prev.reference_num, "url": prev.url}
            before = json.loads(prev.sent_body) if prev.sent_body else None
            changes = diff_bodies(before, req.record_body or {})
            return self._on_match(index, req, existing, changes=changes)
        return self._plain(index, req)  # updates and deletes are idempotent

    def _resolve_unknown_create(
        self, index: int, req: RenderedRequest, prev: LedgerEntry
    ) -> WriteOutcome:
        who = f"run {prev.run_id or '?'}"

        def ambiguous(error: str, retryable: bool) -> WriteOutcome:
            return WriteOutcome(
                index=index,
                status="ambiguous",
                error=error,
                retryable=retryable,
                match_key=req.match_key,
                request=self._request(req),
            )

        if self.dest.match_on is None:
            return ambiguous(
                f"an earlier attempt ({who}, write ledger state {prev.state!r}) may have "
                "created this record and without match_on it cannot be looked up: not re-sent "
                "(check Aha!, then WriteLedger.forget() its key to send it again)",
                False,
            )
        idx = self.scope(req.path)
        try:
            found = self.recheck(idx, req)
        except Exception as exc:
            return ambiguous(
                f"an earlier attempt ({who}) may have created this record and the look-up "
                f"could not settle it: {exc}; not re-sent",
                True,
            )
        if found is not None:
            if prev.request_hash == req.request_hash or not self.dest.updates_matches:
                aha_id, ref, url = parse_response(found, None)
                return WriteOutcome(
                    index=index,
                    status="created",
                    aha_id=aha_id,
                    reference_num=ref,
                    url=url,
                    match_key=req.match_key,
                    request=self._request(req),
                    detail=f"created by an earlier attempt ({who}); found by look-up, not "
                    "sent again",
                )
            return self._on_match(index, req, found)
        assert self.session is not None
        settle = self.session.ledger.settle_seconds
        age = time.time() - (prev.sent_at or 0.0)
        if age < settle:
            return ambiguous(
                f"an earlier attempt ({who}) sent this create {age:.1f}s ago and the look-up "
                f"does not find it yet (the server may still be committing): not re-sent; a run "
                f"after settle_seconds={settle:g} looks it up again",
                True,
            )
        return self._create(index, req, idx)  # verifiably absent long after the attempt

    # -- plain writes -------------------------------------------------------------------

    def write_one(self, index: int, req: RenderedRequest) -> WriteOutcome:
        request = self._request(req)
        self.guard(req, req.kind)
        try:
            response = self.send(req.method, req.path, req.body)
        except AhaNotFoundError as exc:
            if req.kind == "update" and self.dest.mode == "update_only":
                return WriteOutcome(
                    index=index,
                    status="skipped",
                    http_status=exc.status,
                    detail=f"not found in Aha! ({exc}); mode='update_only' never creates",
                    request=request,
                )
            if req.kind == "delete":
                return WriteOutcome(
                    index=index,
                    status="skipped",
                    http_status=exc.status,
                    detail=f"nothing to delete: {exc} (already deleted?)",
                    request=request,
                )
            out = error_outcome(index, exc, match_on=False, post=req.method == "POST")
            out.request = request
            return out
        except Exception as exc:
            out = error_outcome(index, exc, match_on=False, post=req.method == "POST")
            out.request = request
            return out
        return self.success(index, req, response, response, request)

    def success(
        self,
        index: int,
        req: RenderedRequest,
        response: Any,
        item: Any,
        request: dict[str, Any],
    ) -> WriteOutcome:
        """The outcome of a written record: ``item`` is its part of ``response``."""
        aha_id, ref, url = parse_response(item, self.wrap_key)
        if req.kind != "create" and aha_id is None and req.path_values:
            aha_id = next(iter(req.path_values.values()), None)  # the record the path named
        return WriteOutcome(
            index=index,
            status=STATUS_FOR_KIND[req.kind],  # type: ignore[arg-type]
            http_status=204 if response is None else 200,
            aha_id=aha_id,
            reference_num=ref,
            url=url,
            match_key=req.match_key,
            request=request,
        )

    # -- upsert -------------------------------------------------------------------------

    def upsert_one(self, index: int, req: RenderedRequest) -> WriteOutcome:
        assert req.match_key is not None
        idx = self.scope(req.path)
        try:
            self.ensure_loaded(idx)
        except Exception as exc:
            return WriteOutcome(
                index=index,
                status="failed",
                http_status=getattr(exc, "status", None),
                error=f"could not list existing records of {req.path} for match_on "
                f"{self.dest.match_on!r} (nothing was created): {exc}",
                retryable=isinstance(exc, TRANSIENT),
                match_key=req.match_key,
                request=self._request(req),
            )
        with idx.lock:
            existing = idx.entries.get(index_key(req.match_raw))
        if existing is not None:
            return self._on_match(index, req, existing)
        if self.dest.mode == "update_only":
            return WriteOutcome(
                index=index,
                status="skipped",
                detail=f"no record of {req.path} has {self.dest.match_on} = {req.match_key!r}; "
                "mode='update_only' never creates",
                match_key=req.match_key,
            )
        if idx.missing_field:
            return WriteOutcome(
                index=index,
                status="failed",
                error=self._unverifiable(req.path, idx.missing_field),
                retryable=False,
                match_key=req.match_key,
                request=self._request(req),
            )
        return self._create(index, req, idx)

    def _create(self, index: int, req: RenderedRequest, idx: ScopeIndex) -> WriteOutcome:
        """Send the create once; an unknown result is looked up once, never re-sent."""
        post_request = self._request(req)
        self.guard(req, "create")
        try:
            response = self.send(req.method, req.path, req.body)
        except Exception as exc:
            out = error_outcome(index, exc, match_on=True, post=True)
            out.match_key, out.request = req.match_key, post_request
            if out.status != "ambiguous":
                return out
            try:
                found = self.recheck(idx, req)
            except Exception as lookup_exc:
                out.error = f"{out.error}; look-up failed: {lookup_exc}"
                return out
            if found is None:
                out.error = (
                    f"{out.error}; a look-up right after does not find it (the server may "
                    "still be committing)"
                )
                return out
            aha_id, ref, url = parse_response(found, None)
            return WriteOutcome(
                index=index,
                status="created",
                aha_id=aha_id,
                reference_num=ref,
                url=url,
                match_key=req.match_key,
                request=post_request,
                detail="the response was lost; the record was found by look-up",
            )
        aha_id, ref, url = parse_response(response, self.wrap_key)
        return WriteOutcome(
            index=index,
            status="created",
            http_status=200,
            aha_id=aha_id,
            reference_num=ref,
            url=url,
            match_key=req.match_key,
            request=post_request,
        )

    def _on_match(
        self,
        index: int,
        req: RenderedRequest,
        existing: Mapping[str, Any],
        *,
        changes: list[FieldChange] | None = None,
    ) -> WriteOutcome:
        """``existing`` was found (look-up) or is known (ledger): update it unless it already
        holds every field we send (``unchanged``, no request) or matches are skipped.
        ``changes``: the field diff when known (from the ledger); else diffed against
        ``existing`` as Aha! returned it."""
        aha_id, ref, url = parse_response(existing, None)
        endpoint = self.dest.endpoint
        if changes is None and self.dest.updates_matches and aha_id is not None:
            changes = diff_fields(req.record_body or {}, existing)
            if not changes:
                return WriteOutcome(
                    index=index,
                    status="unchanged",
                    aha_id=aha_id,
                    reference_num=ref,
                    url=url,
                    match_key=req.match_key,
                    detail="the Aha! record already holds every field sent: no request",
                )
        if (
            not self.dest.updates_matches
            or aha_id is None
            or endpoint is None
            or endpoint.update_path is None
        ):
            return WriteOutcome(
                index=index,
                status="skipped",
                aha_id=aha_id,
                reference_num=ref,
                url=url,
                error=None if aha_id else "matched a record without an id",
                detail=(
                    "the record exists (mode='create')"
                    if self.dest.mode == "create"
                    else "the record exists (on_match='skip')"
                )
                if aha_id
                else None,
                match_key=req.match_key,
            )
        values = {k: quote_segment(v) for k, v in req.path_values.items()}
        path = endpoint.update_path.format(id=quote_segment(aha_id), **values)
        request = request_dict(self.dest, "PUT", path, req.body)
        self.guard(req, "update")
        try:
            response = self.send("PUT", path, req.body)
        except Exception as exc:
            out = error_outcome(index, exc, match_on=True, post=False)
            out.match_key, out.request, out.aha_id = req.match_key, request, aha_id
            return out
        new_id, new_ref, new_url = parse_response(response, self.wrap_key)
        return WriteOutcome(
            index=index,
            status="updated",
            http_status=200,
            aha_id=new_id or aha_id,
            reference_num=new_ref or ref,
            url=new_url or url,
            match_key=req.match_key,
            request=request,
            changes=changes,
            detail=changes_text(changes) if changes else None,
        )

    # -- batches ------------------------------------------------------------------------

    def write_batch(self, items: Sequence[tuple[int, RenderedRequest]]) -> list[WriteOutcome]:
        """One batched request; with a ledger, records already written (or whose earlier
        create is unknown) are taken out of the batch first."""
        done: list[WriteOutcome] = []
        claimed: list[tuple[int, RenderedRequest, LedgerEntry | None]] = []
        for i, req in items:
            if self.session is None:
                claimed.append((i, req, None))
                continue
            got = self.session.acquire(i, req)
            if isinstance(got, WriteOutcome):
                done.append(got)
                continue
            prev = got.previous
            if prev is not None and (
                prev.state in ("sent", "ambiguous", "succeeded") and req.kind == "create"
            ):
                out = (
                    self.session.already_written(prev, i, req)
                    if prev.state == "succeeded"
                    else self._resolve_unknown_create(i, req, prev)
                )
                self.session.finish(req, out, prev)
                done.append(out)
                continue
            claimed.append((i, req, prev))
        if not claimed:
            return done
        first = claimed[0][1]
        assert self.dest.batch_property is not None
        body = {**self.dest.batch_extra, self.dest.batch_property: [r.body for _, r, _ in claimed]}
        request = request_dict(self.dest, first.method, first.path, body)
        try:
            for _, req, _ in claimed:
                self.guard(req, req.kind)
        except ClaimLost as exc:
            lost = [
                WriteOutcome(index=i, status="failed", retryable=True, error=str(exc))
                for i, _, _ in claimed
            ]
            return done + lost
        try:
            response = self.send(first.method, first.path, body)
            per_item: list[Any] = []
            if isinstance(response, Mapping):
                listed = response.get(self.dest.batch_property)
                if isinstance(listed, list) and len(listed) == len(claimed):
                    per_item = listed
            outs = [
                self.success(i, req, response, per_item[pos] if per_item else None, request)
                for pos, (i, req, _) in enumerate(claimed)
            ]
        except Exception as exc:
            outs = []
            for i, _, _ in claimed:
                out = error_outcome(i, exc, match_on=False, post=first.method == "POST")
                out.request = request
                outs.append(out)
        if self.session is not None:
            for out, (_, req, prev) in zip(outs, claimed, strict=True):
                self.session.finish(req, out, prev)
        return done + outs
