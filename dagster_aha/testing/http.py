"""The sandbox's HTTP vocabulary: responses, the route table, and the list/detail/write
handlers most kinds share. Each kind module (``kinds/<kind>.py``) registers its routes here."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.validation import validate_body

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 200


class Response:
    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self, status: int, body: bytes, content_type: str = "application/json; charset=utf-8"
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers: dict[str, str] = {}


try:  # a C encoder, 10x faster on a 200-record page (installed with dlt); optional
    from orjson import dumps as _fast_dumps
except ImportError:  # pragma: no cover - depends on the environment
    _fast_dumps = None


def encode_json(payload: Any) -> bytes:
    """``payload`` as compact UTF-8 JSON.

    The sandbox shares the machine with the clients it serves: a page of 200 full features
    takes the standard library's encoder ~6 ms, orjson's ~0.5 ms. Whatever orjson refuses (an
    integer beyond 64 bits, a lone surrogate, a non-string key) goes through :mod:`json`; the
    two give the same JSON value (orjson writes non-ASCII as UTF-8 rather than ``\\u``
    escapes, and a float NaN, which JSON has no literal for, as ``null``).
    """
    if _fast_dumps is not None:
        try:
            return _fast_dumps(payload)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return json.dumps(payload, separators=(",", ":")).encode()


def json_response(status: int, payload: Any) -> Response:
    return Response(status, encode_json(payload))


def error_response(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def no_content() -> Response:
    return Response(204, b"", "")


#: ``handler(sandbox, path_params, query, body) -> Response``
Handler = Callable[["AhaSandbox", dict[str, str], dict[str, str], Any], Response]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []
_SHAPES: dict[str, str] = {}


def route_shape(pattern: str) -> str:
    """A route regex's path with every parameter as ``*`` (``releases/*/features``): the key
    that pairs a route with its operation in Aha!'s OpenAPI document."""
    return _SHAPES.get(pattern) or re.sub(r"\(\?P<\w+>\[\^/\]\+\)", "*", pattern)


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method`` on ``pattern`` (below ``/api/v1/``; ``:name``
    segments become path parameters). Routes are tried in registration order."""
    regex = re.compile(re.sub(r":(\w+)", r"(?P<\1>[^/]+)", pattern))
    _SHAPES[regex.pattern] = re.sub(r":\w+", "*", pattern)

    def deco(fn: Handler) -> Handler:
        ROUTES.append((method, regex, fn))
        return fn

    return deco


def dispatch(sb: AhaSandbox, method: str, path: str, params: dict[str, str], body: Any) -> Response:
    path_matched = False
    for r_method, regex, fn in ROUTES:
        mt = regex.fullmatch(path)
        if mt is None:
            continue
        path_matched = True
        if r_method == method:
            if method in ("POST", "PUT"):
                validate_body(method, route_shape(regex.pattern), body)
            return fn(sb, mt.groupdict(), params, body)
    if path_matched:
        return error_response(405, "Method not allowed")
    return error_response(404, "Not found")


# ---------------------------------------------------------------------------- query params
def int_param(params: dict[str, str], name: str, default: int) -> int:
    """A positive integer query parameter (``page``, ``per_page``); 400 when it is not one."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1 or value > 10**9:
        raise SandboxError(400, f"{name} must be a positive integer, got {raw[:20]!r}")
    return value


def fields_param(params: dict[str, str], known: frozenset[str] | None = None) -> list[str] | None:
    """The ``fields=`` names; 400 for a name no record of the kind has (unless ``*``, where
    Aha! documents extras such as ``*,watchers``)."""
    raw = params.get("fields")
    if not raw:
        return None
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    if not fields:
        raise SandboxError(400, "fields must name at least one field")
    if known is not None and "*" not in fields:
        unknown = [f for f in fields if f not in known]
        if unknown:
            listed = ", ".join(repr(f[:40]) for f in unknown[:5])
            raise SandboxError(400, f"Unknown field(s) in fields=: {listed}")
    return fields


def shape(rec: dict[str, Any], fields: list[str] | None, compact: Iterable[str] | None) -> Any:
    """``rec`` as a response shows it: ``fields=`` keys, the compact keys, or all."""
    if fields is None:
        return rec if compact is None else {k: rec[k] for k in compact if k in rec}
    if "*" in fields:
        return rec
    return {k: rec[k] for k in fields if k in rec}


#: ``kind -> field -> fn(state, rec)``: values computed when a response shows them (a kind's
#: ``requirements``, or ``workflow_status_times``, which only an explicit ``fields=`` asks for)
COMPUTED_FIELDS: dict[str, dict[str, Callable[[Any, dict[str, Any]], Any]]] = {}
#: computed fields served only when ``fields=`` names them (not in ``*`` nor the detail shape)
ON_REQUEST_ONLY = frozenset({"workflow_status_times"})


def shape_computed(
    sb: AhaSandbox,
    kind: str,
    rec: dict[str, Any],
    fields: list[str] | None,
    compact: Iterable[str] | None,
) -> Any:
    """:func:`shape` plus the kind's computed fields (``COMPUTED_FIELDS``)."""
    out = shape(rec, fields, compact)
    computed = COMPUTED_FIELDS.get(kind)
    if not computed or not isinstance(out, dict):
        return out
    out = dict(out) if out is rec else out
    for name, fn in computed.items():
        asked = fields is not None and name in fields
        if asked or (name in out and name not in ON_REQUEST_ONLY):
            out[name] = fn(sb.state, rec)
    return out


def page_of(
    recs: list[Any], params: dict[str, str], default_per_page: int = DEFAULT_PER_PAGE
) -> tuple[list[Any], dict[str, int]]:
    """The ``page``/``per_page`` slice of ``recs`` and its ``pagination`` object (``per_page``
    above the maximum is capped, as on Aha!)."""
    per_page = min(int_param(params, "per_page", default_per_page), MAX_PER_PAGE)
    page = int_param(params, "page", 1)
    total = len(recs)
    chunk = recs[(page - 1) * per_page : page * per_page]
    return chunk, {
        "total_records": total,
        "total_pages": math.ceil(total / per_page),
        "current_page": page,
    }


# ---------------------------------------------------------------------------- bodies
def list_response(
    sb: AhaSandbox,
    kind: str,
    recs: list[dict[str, Any]],
    params: dict[str, str],
    *,
    compact: tuple[str, ...] | bool | None = True,
) -> Response:
    """One page of ``recs`` (``page``, ``per_page``, ``fields=``) with its pagination;
    ``compact`` overrides the kind's compact keys (True: the kind's)."""
    known = sb.state.known_fields(kind) | frozenset(COMPUTED_FIELDS.get(kind, {}))
    fields = fields_param(params, known)
    chunk, pagination = page_of(recs, params)
    keys = sb.state.kind(kind).compact_keys if compact is True else compact
    keys = keys if isinstance(keys, tuple) else None
    return json_response(
        200,
        {
            kind: [shape_computed(sb, kind, r, fields, keys) for r in chunk],
            "pagination": pagination,
        },
    )


def detail_response(
    sb: AhaSandbox, kind: str, rec: dict[str, Any], params: dict[str, str]
) -> Response:
    known = sb.state.known_fields(kind) | frozenset(COMPUTED_FIELDS.get(kind, {}))
    fields = fields_param(params, known)
    return json_response(
        200, {sb.state.kind(kind).singular: shape_computed(sb, kind, rec, fields, None)}
    )


def unwrap(body: Any, key: str) -> dict[str, Any]:
    """The record of a write body ``{key: {...}}`` (400 otherwise)."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise SandboxError(
            400, f"Request body must wrap the record under the {key!r} key: {{{key!r}: {{...}}}}"
        )
    return body[key]


# ---------------------------------------------------------------------------- shared routes
def list_route(
    kind: str, path: str, parent_kind: str | None = None, attr: str | None = None
) -> None:
    """``GET path``: the records of ``kind``, within the parent named by ``:pid`` (matched on
    ``attr``: ``product_id`` or an embedded ``{id}`` reference) when ``parent_kind`` is set."""

    def handler(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
        parent = None
        if parent_kind is not None and attr is not None:
            parent = (attr, sb.state.require(parent_kind, m["pid"])["id"])
        recs = sb.state.select(kind, where=None, params=params, parent=parent)
        return list_response(sb, kind, recs, params)

    route("GET", path)(handler)


def detail_route(kind: str, path: str) -> None:
    """``GET path``: one record of ``kind`` by ``:id`` (numeric id or reference)."""

    def handler(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
        return detail_response(sb, kind, sb.state.require(kind, m["id"]), params)

    route("GET", path)(handler)


def _check_product(
    sb: AhaSandbox, rec: dict[str, Any], m: dict[str, str], product_scoped: bool
) -> None:
    if product_scoped and rec.get("product_id") != sb.state.require("products", m["pid"])["id"]:
        raise SandboxError(404, "Record not found")


def update_route(kind: str, path: str, product_scoped: bool = False) -> None:
    """``PUT path``: a partial update of ``:id`` (within product ``:pid`` if scoped)."""

    def handler(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
        changes = unwrap(body, sb.state.kind(kind).singular)
        with sb.state.lock:
            rec = sb.state.require(kind, m["id"])
            _check_product(sb, rec, m, product_scoped)
            new = sb.state.update(kind, rec["id"], changes)
        return detail_response(sb, kind, new, params)

    route("PUT", path)(handler)


def delete_route(kind: str, path: str, product_scoped: bool = False) -> None:
    """``DELETE path``: delete ``:id`` (within product ``:pid`` if scoped); 204."""

    def handler(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
        with sb.state.lock:
            rec = sb.state.require(kind, m["id"])
            _check_product(sb, rec, m, product_scoped)
            sb.state.delete(kind, rec["id"])
        return no_content()

    route("DELETE", path)(handler)


def create_route(kind: str, path: str, parent_kind: str | None = None) -> None:
    """``POST path``: create a ``kind`` record, in the parent ``:pid`` when ``parent_kind``."""

    def handler(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
        data = unwrap(body, sb.state.kind(kind).singular)
        parent = sb.state.require(parent_kind, m["pid"]) if parent_kind else None
        return detail_response(sb, kind, sb.state.create(kind, data, parent=parent), params)

    route("POST", path)(handler)
