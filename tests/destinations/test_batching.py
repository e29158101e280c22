"""Record batching against a small local endpoint that accepts arrays (pytest-httpserver)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dagster_aha.client import AhaClient
from dagster_aha.destinations import AhaDestination, sample_requests, write_records


@pytest.fixture
def client(httpserver: HTTPServer) -> Iterator[AhaClient]:
    c = AhaClient(
        api_key="batch-key",
        base_url=httpserver.url_for("/").rstrip("/"),
        requests_per_second=10_000,
        requests_per_minute=1_000_000,
        max_retries=1,
        backoff_base=0.001,
        backoff_max=0.01,
    )
    yield c
    c.close()


def batch_dest(**kw: object) -> AhaDestination:
    return AhaDestination(
        method="POST",
        path="products/{product_id}/bulk_items",
        path_params={"product_id": "PRJ1"},
        wrap_key="item",
        batch_size=3,
        batch_property="items",
        batch_extra={"source": "dagster"},
        exclude_attributes=["secret"],
        **kw,  # type: ignore[arg-type]
    )


def test_records_are_sent_in_batches_with_one_outcome_each(
    httpserver: HTTPServer, client: AhaClient
) -> None:
    bodies: list[dict] = []

    def handler(request: Request) -> Response:
        body = json.loads(request.get_data())
        bodies.append(body)
        assert request.args.get("disable_mailers") == "true"
        assert request.headers["Authorization"] == "Bearer batch-key"
        items = [
            {"id": f"{len(bodies)}{i}", "url": f"http://x/{i}"} for i in range(len(body["items"]))
        ]
        return Response(json.dumps({"items": items}), content_type="application/json")

    httpserver.expect_request(
        "/api/v1/products/PRJ1/bulk_items", method="POST"
    ).respond_with_handler(handler)
    records = [{"name": f"r{i}", "secret": "s"} for i in range(7)]
    records.insert(2, "not a record")
    report = write_records(client, batch_dest(max_concurrency=1), records)

    assert len(bodies) == 3  # 7 valid records in batches of 3, 3, 1
    assert bodies[0] == {
        "source": "dagster",
        "items": [{"item": {"name": "r0"}}, {"item": {"name": "r1"}}, {"item": {"name": "r2"}}],
    }
    assert [len(b["items"]) for b in bodies] == [3, 3, 1]
    assert [o.status for o in report.outcomes] == ["created"] * 2 + ["failed"] + ["created"] * 5
    assert report.outcomes[0].aha_id == "10" and report.outcomes[1].aha_id == "11"
    assert report.outcomes[2].error and "not a mapping" in report.outcomes[2].error
    assert report.requests == 3
    assert report.counts["created"] == 7


def test_a_failed_batch_fails_all_of_its_records(httpserver: HTTPServer, client: AhaClient) -> None:
    calls = {"n": 0}

    def handler(request: Request) -> Response:
        calls["n"] += 1
        if calls["n"] == 2:
            return Response(json.dumps({"error": "bad batch"}), status=422)
        return Response(json.dumps({"ok": True}), content_type="application/json")

    httpserver.expect_request("/api/v1/products/PRJ1/bulk_items").respond_with_handler(handler)
    report = write_records(client, batch_dest(max_concurrency=1), [{"n": i} for i in range(6)])
    assert [o.status for o in report.outcomes] == ["created"] * 3 + ["failed"] * 3
    assert all(o.http_status == 422 and "bad batch" in (o.error or "") for o in report.outcomes[3:])
    assert report.failed_records() == [{"n": 3}, {"n": 4}, {"n": 5}]
    assert report.retryable_records() == []  # 422 is not transient


def test_batch_sample_and_dry_run() -> None:
    dest = batch_dest()
    (first, second) = sample_requests(dest, [{"n": i} for i in range(5)], n=5)
    assert first["body"] == {"source": "dagster", "items": [{"item": {"n": i}} for i in range(3)]}
    assert first["indices"] == [0, 1, 2] and second["indices"] == [3, 4]
    report = write_records(None, dest, [{"n": 1}, {"n": 2}], dry_run=True)
    assert [o.status for o in report.outcomes] == ["dry_run", "dry_run"]
    assert report.outcomes[1].request is not None
    assert report.outcomes[1].request["body"]["items"] == [{"item": {"n": 1}}, {"item": {"n": 2}}]


def test_extra_headers_are_sent_and_auth_cannot_be_overridden(
    httpserver: HTTPServer, client: AhaClient
) -> None:
    seen: list[str | None] = []

    def handler(request: Request) -> Response:
        seen.append(request.headers.get("X-Source"))
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/api/v1/products/PRJ1/bulk_items").respond_with_handler(handler)
    dest = batch_dest(headers={"X-Source": "dagster"})
    report = write_records(client, dest, [{"n": 1}])
    assert report.ok and seen == ["dagster"]
    # the key's header can never be replaced by a destination (refused before any request)
    with pytest.raises(ValueError, match="cannot be set"):
        batch_dest(headers={"Authorization": "Bearer other"})
    assert seen == ["dagster"]
