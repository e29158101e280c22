"""Previews and endpoint tests of a destination, without writing: the exact requests a run would
send (:func:`sample_requests`) and the Nexla-style "endpoint test" (:func:`check_destination`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dagster_aha.client.errors import AhaError
from dagster_aha.client.urls import quote_segment
from dagster_aha.destinations.destination import AhaDestination, RecordError, RenderedRequest
from dagster_aha.destinations.render import batches, render_all, request_dict, request_params

if TYPE_CHECKING:
    from dagster_aha.client import AhaClient

__all__ = ["DestinationCheck", "DestinationCheckItem", "check_destination", "sample_requests"]

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
    rendered, failed = render_all(destination, items)
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
            "params": request_params(destination),
            "url": f"{prefix}{req.path}{query}",
            "headers": dict(headers)
            if body is not None or req.method != "DELETE"
            else {k: v for k, v in headers.items() if k != "Content-Type"},
            "body": body,
        }

    out: list[dict[str, Any]] = []
    if destination.batching:
        for batch in batches(destination, rendered):
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
            result.sample = request_dict(destination, rendered.method, rendered.path, rendered.body)
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
