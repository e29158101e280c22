"""Contract test: Aha!'s OpenAPI document, run by schemathesis against a running AhaSandbox.

Every operation of the document the sandbox serves gets a few seeded, generated requests
through plain HTTP (valid ones; for write operations also bodies that violate the request
schema). Each response is checked: no server error; a status code the document or
aha-api.md §6 documents (the document lists only 200/204; Aha!'s prose documents 400, 404
and 422 with an ``{"error": ...}`` body, added here to every operation); the documented
content type; invalid bodies rejected with a 4xx; and the response schema, for every
operation whose own example satisfies its schema (the others contradict themselves) and
that no other example contradicts (``CONTRADICTED_BY_OTHER_EXAMPLES``).

Runs on the full document when ``../shared`` is present, else on the shipped extract
(``data/aha-openapi-served.json``): it never skips.
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from dagster_aha.testing import AhaSandbox
from dagster_aha.testing.http import ROUTES, route_shape
from dagster_aha.testing.kinds.custom_field_definitions import (
    definitions as custom_field_definitions,
)

from .openapi_document import SPEC

KEY = "sandbox-key"
METHODS = ("get", "put", "post", "delete")
#: generated requests per operation and mode (seeded: the same cases on every run)
POSITIVE_EXAMPLES = 3
NEGATIVE_EXAMPLES = 3
ERROR_BODY = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
#: aha-api.md §6: the error statuses Aha! documents for every operation
DOCUMENTED_ERRORS = {
    "400": "Malformed request; the body has details.",
    "404": "Not found, or not visible to this user.",
    "422": "Validation error.",
}


def _shape(path: str) -> str:
    return "/".join("*" if s.startswith("{") else s for s in path.strip("/").split("/"))


def _served(doc: dict[str, Any]) -> list[tuple[str, str]]:
    import dagster_aha.testing.state  # noqa: F401  (registers every route)

    shapes = {(m, route_shape(rx.pattern)) for m, rx, _ in ROUTES}
    return [
        (m, p)
        for p, item in doc["paths"].items()
        for m in METHODS
        if m in item and (m.upper(), _shape(p)) in shapes
    ]


#: Operations whose own example agrees with their response schema, but whose schema (inferred
#: from that one example) contradicts another operation's example of the same record:
#: response-schema conformance is not checked there.
CONTRADICTED_BY_OTHER_EXAMPLES = {
    # the schema types team_members.email/user_id as null and project as an object (a virtual
    # member of a product team); the GET /teams/{id} example has a string email, a user_id
    # and a null project (an account-level team)
    "PUT /teams/{id}",
    # the schema types workflow_status.workflow_status_category as null (its example's "Not
    # Started"); the other examples' statuses carry a category object {id, name}
    "POST /products/{product_id}/initiatives",
    # the schema types pagination.current_page as a string (its example's "1"); the 112 other
    # list examples carry an integer, as the sandbox serves it
    "GET /deletions",
}


def _document() -> dict[str, Any]:
    """The served operations of the document, with aha-api.md §6's error responses added."""
    full = json.loads(SPEC.read_text("utf-8"))
    doc = {k: v for k, v in full.items() if k != "paths"}
    doc["paths"] = {}
    for method, path in _served(full):
        item = doc["paths"].setdefault(path, {})
        op = copy.deepcopy(full["paths"][path][method])
        for status, text in DOCUMENTED_ERRORS.items():
            op["responses"].setdefault(
                status,
                {
                    "description": text,
                    "content": {"application/json; charset=utf-8": {"schema": ERROR_BODY}},
                },
            )
        item[method] = op
    return doc


def _example_agrees(doc: dict[str, Any], method: str, path: str) -> bool:
    """Whether the operation's 2xx example satisfies its own response schema."""
    op = doc["paths"][path][method]
    for status, resp in op["responses"].items():
        if not status.startswith("2"):
            continue
        for media in resp.get("content", {}).values():
            if "example" in media and "schema" in media:
                schema = {**media["schema"], "components": doc["components"]}
                schema = json.loads(json.dumps(schema).replace("#/components/", "#/components/"))
                validator = Draft202012Validator(schema)
                if next(validator.iter_errors(media["example"]), None) is not None:
                    return False
    return True


def _path_parameters(sb: AhaSandbox, method: str, path: str) -> dict[str, str]:
    """Real ids for the operation's path parameters (DELETEs get the second product's records,
    so the other operations keep finding theirs)."""
    p = "PRJ2" if method == "delete" else "PRJ1"
    state = sb.state
    own = {
        "products": p,
        "releases": f"{p}-R-2",
        "features": f"{p}-2",
        "epics": f"{p}-E-1",
        "ideas": f"{p}-I-1",
        "goals": f"{p}-G-1",
        "initiatives": f"{p}-S-1",
        "users": state.records("users")[1]["id"],
        "teams": state.records("teams")[1 if method == "delete" else 0]["id"],
        "custom_object_records": next(
            r["id"]
            for r in state.records("custom_object_records")
            if r["product_id"] == state.require("products", p)["id"]
        ),
        "custom_pivots": next(iter(state.reports)),
        "custom_field_definitions": next(
            d["id"] for d in custom_field_definitions(state) if d["_options"]
        ),
    }
    # kinds read by their own id only (to-dos, comments, requirements, phases, record links)
    for kind in ("tasks", "comments", "requirements", "release_phases", "record_links"):
        own[kind] = state.records(kind)[0]["id"]
    segments = path.strip("/").split("/")
    out: dict[str, str] = {}
    for i, seg in enumerate(segments):
        if seg.startswith("{"):
            name = seg.strip("{}")
            if name == "key":
                out[name] = "customers"
            elif name.endswith("_id") and name[:-3] + "s" in own:
                out[name] = own[name[:-3] + "s"]
            else:
                out[name] = own[segments[i - 1]]
    return out


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AhaSandbox]:
    with AhaSandbox(
        products=2, releases_per_product=2, features_per_release=3, enforce_rate_limits=False
    ) as sb:
        yield sb


def _takes_paging(doc: dict[str, Any], method: str, path: str) -> bool:
    names = {p.get("name") for p in doc["paths"][path][method].get("parameters", [])}
    return {"page", "per_page"} <= names


def _brief(error: BaseException) -> str:
    """One line per failed check (schemathesis' own messages are pages long)."""
    parts = getattr(error, "exceptions", None) or [error]
    lines = []
    for part in parts:
        text = [ln.strip() for ln in str(part).splitlines() if ln.strip()]
        lines.append(" / ".join(text[:3])[:300])
    return "; ".join(lines)


def _runner(
    op: Any,
    mode: GenerationMode,
    n: int,
    checks: list[Any],
    params: dict[str, str],
    base_url: str,
    session: requests.Session,
    cases: Counter[str],
    statuses: Counter[int],
    failures: list[str],
    query: dict[str, str] | None = None,
) -> Any:
    """A seeded hypothesis run of ``n`` generated cases of one operation and mode."""

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(mode, path_parameters=params, query=query))
    def run(case: Any) -> None:
        cases[f"{op.method.upper()} {op.path}"] += 1
        response = case.call(base_url=base_url, session=session, timeout=10)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")
            return
        try:
            case.validate_response(response, checks=checks)
        except (Exception, FailureGroup) as e:  # a check failed: collect, keep running
            failures.append(f"{case.method} {case.formatted_path} [{mode.value}]: {_brief(e)}")

    return run


def test_contract(sandbox: AhaSandbox) -> None:
    doc = _document()
    schema = schemathesis.openapi.from_dict(doc)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    base_url = sandbox.api_url
    started = time.monotonic()
    cases: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        method, path = op.method.lower(), op.path
        operations += 1
        schema_checks = (
            _example_agrees(doc, method, path)
            and f"{method.upper()} {path}" not in CONTRADICTED_BY_OTHER_EXAMPLES
        )
        params = _path_parameters(sandbox, method, path)
        modes = [(GenerationMode.POSITIVE, POSITIVE_EXAMPLES)]
        if "requestBody" in doc["paths"][path][method]:
            # bodies that violate the request schema must be rejected (query parameters are
            # all strings in the document: nothing to violate there)
            modes.append((GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES))
        for mode, n in modes:
            checks = [status_code_conformance, content_type_conformance]
            if mode is GenerationMode.POSITIVE and schema_checks:
                checks.append(response_schema_conformance)
            if mode is GenerationMode.NEGATIVE:
                checks.append(negative_data_rejection)

            run = _runner(op, mode, n, checks, params, base_url, session, cases, statuses, failures)
            if mode is GenerationMode.POSITIVE and _takes_paging(doc, method, path):
                # one more run on a valid page (random page/per_page strings are mostly 400s)
                _runner(
                    op,
                    mode,
                    1,
                    checks,
                    params,
                    base_url,
                    session,
                    cases,
                    statuses,
                    failures,
                    query={"page": "1", "per_page": "5"},
                )()
            try:
                run()
            except Exception as e:  # generation errors (unsatisfiable schemas) are failures too
                failures.append(f"{method.upper()} {path} [{mode.value}] generation: {e}")
    seconds = time.monotonic() - started
    print(
        f"contract: {operations} operations, {sum(cases.values())} cases, "
        f"{len(failures)} failures, {seconds:.1f} s; statuses {dict(sorted(statuses.items()))}"
    )
    assert operations == len(_served(json.loads(SPEC.read_text("utf-8"))))
    assert not failures, "\n".join(failures[:40])
