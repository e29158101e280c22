"""The audit-feed poll against a minimal Aha!-shaped audits server (not the sandbox), one that
honours ``created_since`` / ``created_before`` and one that ignores them, oldest- or newest-first:
every audit is handled exactly once, whatever the server does and whatever the budget."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dagster_aha.client import AhaClient
from dagster_aha.sources.audit_feed import AuditCursor, poll_audits
from dagster_aha.sources.timestamps import format_ts, parse_ts

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


class AuditsServer:
    """``GET /api/v1/audits`` over ``self.audits`` (Aha!'s shape and pagination)."""

    def __init__(self, *, honour_filters: bool, newest_first: bool) -> None:
        self.honour_filters = honour_filters
        self.newest_first = newest_first
        self.audits: list[dict[str, Any]] = []
        self.queries: list[dict[str, str]] = []

    def add(self, n: int, *, start: int = 0) -> None:
        for i in range(start, start + n):
            self.audits.append(
                {
                    "id": str(7_000_000_000 + i),
                    "audit_action": "update",
                    "created_at": format_ts(T0 + timedelta(seconds=i)),
                    "auditable_type": "Feature",
                    "auditable_id": str(1_000 + i),
                    "auditable_url": f"https://acme.aha.io/features/PRJ1-{i}",
                    "user": {"id": "42", "name": "Mary Humpty", "email": "no-reply@aha.io"},
                    "changes": [{"field_name": "Name", "value": f"Feature {i}"}],
                }
            )

    def __call__(self, request: Request) -> Response:
        args = dict(request.args)
        self.queries.append(args)
        recs = list(self.audits)
        if self.honour_filters:
            since = parse_ts(args.get("created_since"))
            before = parse_ts(args.get("created_before"))
            recs = [
                r
                for r in recs
                if (since is None or parse_ts(r["created_at"]) >= since)  # type: ignore[operator]
                and (before is None or parse_ts(r["created_at"]) < before)  # type: ignore[operator]
            ]
        if self.newest_first:
            recs.reverse()
        per_page = int(args.get("per_page", 30))
        page = int(args.get("page", 1))
        body = {
            "audits": recs[(page - 1) * per_page : page * per_page],
            "pagination": {
                "total_records": len(recs),
                "total_pages": math.ceil(len(recs) / per_page),
                "current_page": page,
            },
        }
        return Response(json.dumps(body), content_type="application/json; charset=utf-8")


def _client(httpserver: HTTPServer) -> AhaClient:
    return AhaClient(
        base_url=httpserver.url_for("/").rstrip("/"),
        api_key="k",
        requests_per_second=1_000_000,
        requests_per_minute=60_000_000,
        backoff_base=0.01,
        backoff_max=0.05,
        max_retries=0,
    )


def _drain(client: AhaClient, cursor: AuditCursor, *, max_requests: int, ticks: int) -> list[str]:
    handled: list[str] = []
    for _ in range(ticks):
        poll = poll_audits(
            client, cursor, max_requests=max_requests, deadline=time.monotonic() + 30
        )
        assert poll.requests <= max_requests
        handled.extend(a["id"] for a in poll.audits)
        cursor = AuditCursor.deserialize(poll.cursor.serialize())
    return handled


@pytest.mark.parametrize("honour_filters", [True, False], ids=["honoured", "ignored"])
@pytest.mark.parametrize("newest_first", [False, True], ids=["oldest_first", "newest_first"])
def test_every_audit_once_within_the_budget(
    httpserver: HTTPServer, honour_filters: bool, newest_first: bool
) -> None:
    server = AuditsServer(honour_filters=honour_filters, newest_first=newest_first)
    server.add(30)  # before the cursor: never reported
    server.add(900, start=30)  # 5 pages of 200 after it
    httpserver.expect_request("/api/v1/audits").respond_with_handler(server)
    client = _client(httpserver)
    cursor = AuditCursor(since=T0 + timedelta(seconds=30))

    handled = _drain(client, cursor, max_requests=2, ticks=12)

    expected = [a["id"] for a in server.audits[30:]]
    assert sorted(handled) == sorted(expected)  # each once, none before the cursor
    assert len(handled) == len(set(handled))
    assert server.queries[0]["created_since"] == format_ts(T0 + timedelta(seconds=30))
    assert server.queries[0]["per_page"] == "200"


def test_a_new_audit_after_a_complete_read_is_reported_once(httpserver: HTTPServer) -> None:
    server = AuditsServer(honour_filters=False, newest_first=True)
    server.add(3)
    httpserver.expect_request("/api/v1/audits").respond_with_handler(server)
    client = _client(httpserver)
    first = poll_audits(
        client, AuditCursor(since=T0), max_requests=5, deadline=time.monotonic() + 30
    )
    assert first.complete and [a["id"] for a in first.audits] == [
        a["id"] for a in reversed(server.audits)
    ]
    assert first.audits[0]["changed_fields"] == ["Name"]
    assert first.audits[0]["user_id"] == "42"
    # the next poll overlaps (created_since = newest - overlap) but repeats nothing
    again = poll_audits(client, first.cursor, max_requests=5, deadline=time.monotonic() + 30)
    assert again.audits == [] and again.requests == 1
    server.add(1, start=3)
    third = poll_audits(client, again.cursor, max_requests=5, deadline=time.monotonic() + 30)
    assert [a["id"] for a in third.audits] == [server.audits[-1]["id"]]


def test_cursor_round_trip_and_refusal() -> None:
    cursor = AuditCursor(since=T0, seen={"1": format_ts(T0)}, until=T0 + timedelta(hours=1))
    assert AuditCursor.deserialize(cursor.serialize()) == cursor
    for bad in ("", "{}", "[1]", '{"v": 1}', "not json"):
        with pytest.raises(ValueError):
            AuditCursor.deserialize(bad)
