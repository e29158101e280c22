"""Extract the parts of Aha!'s OpenAPI document the sandbox and its tests need.

    PYTHONPATH=. .venv/bin/python scripts/extract_openapi.py [path/to/aha-openapi.json]

The document (``../shared/reference/aha-openapi.json`` beside the repository by default, or
``$AHA_OPENAPI``) is not shipped with the package; this script writes two files derived from
it, both committed:

* ``dagster_aha/testing/request_schemas.json``: the request-body schema of every write
  operation the sandbox serves (``$ref`` resolved, examples dropped), keyed by
  ``"METHOD /path/{template}"``. The sandbox validates write bodies against these.
* ``tests/sandbox/data/aha-openapi-served.json``: the document trimmed to the operations the
  sandbox serves and the component schemas they reference, for the contract test in a
  clone without ``../shared``.

Which operations the sandbox serves is read from its route table
(``dagster_aha.testing.http.ROUTES``), so re-run this after adding an endpoint.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = ROOT.parent / "shared" / "reference" / "aha-openapi.json"
REQUEST_SCHEMAS = ROOT / "dagster_aha" / "testing" / "request_schemas.json"
SERVED_DOCUMENT = ROOT / "tests" / "sandbox" / "data" / "aha-openapi-served.json"
METHODS = ("get", "put", "post", "delete", "patch")
ATTRIBUTION = (
    "Derived from Aha!'s OpenAPI document 'Aha! API' 1.0.0 (https://www.aha.io/api) by "
    "scripts/extract_openapi.py; Aha! is a trademark of Aha! Labs Inc."
)
#: Where Aha!'s own documentation accepts more than the document's request schemas:
#: the custom-table-link example on the custom table records page sends numeric ids,
#: ``{"custom_object_links": {"<field_key>": [136661093]}}``, while the schemas list strings.
LINK_IDS = {"type": ["string", "integer"]}


def served_operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, spec path) of every operation a sandbox route answers."""
    sys.path.insert(0, str(ROOT))
    import dagster_aha.testing  # noqa: F401  (registers every route)
    from dagster_aha.testing.http import ROUTES, route_shape

    shapes = {(method, route_shape(regex.pattern)) for method, regex, _fn in ROUTES}
    out = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item and (method.upper(), spec_shape(path)) in shapes:
                out.append((method, path))
    return out


def spec_shape(path: str) -> str:
    return "/".join("*" if s.startswith("{") else s for s in path.strip("/").split("/"))


def resolve(node: Any, schemas: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every ``$ref`` inlined and every ``example`` dropped."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name in seen:
                return {}
            return resolve(schemas[name], schemas, (*seen, name))
        out = {}
        for key, value in node.items():
            if key in ("example", "examples"):
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {k: resolve(v, schemas, seen) for k, v in value.items()}
            elif key == "description" and isinstance(value, str):
                continue
            else:
                out[key] = resolve(value, schemas, seen)
        return out
    if isinstance(node, list):
        return [resolve(v, schemas, seen) for v in node]
    return node


def loosen_links(node: Any) -> Any:
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict) and "custom_object_links" in props:
            links = props["custom_object_links"]
            extra = links.get("additionalProperties")
            if isinstance(extra, dict) and isinstance(extra.get("items"), dict):
                extra["items"] = dict(LINK_IDS)
        for value in node.values():
            loosen_links(value)
    elif isinstance(node, list):
        for value in node:
            loosen_links(value)
    return node


def refs_of(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            out.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            refs_of(value, out)
    elif isinstance(node, list):
        for value in node:
            refs_of(value, out)


def main(argv: list[str]) -> int:
    src = Path(argv[1] if len(argv) > 1 else os.environ.get("AHA_OPENAPI", DEFAULT_SPEC))
    spec = json.loads(src.read_text("utf-8"))
    schemas = spec["components"]["schemas"]
    ops = served_operations(spec)

    request: dict[str, Any] = {}
    for method, path in ops:
        body = spec["paths"][path][method].get("requestBody")
        if not body or method not in ("post", "put"):
            continue
        for media in body.get("content", {}).values():
            if "schema" in media:
                key = f"{method.upper()} {path}"
                request[key] = loosen_links(resolve(media["schema"], schemas))
                break
    REQUEST_SCHEMAS.write_text(
        json.dumps({"source": ATTRIBUTION, "operations": request}, indent=1, sort_keys=True) + "\n",
        "utf-8",
    )

    trimmed: dict[str, Any] = {k: v for k, v in spec.items() if k not in ("paths", "components")}
    trimmed["info"] = {**spec["info"], "x-source": ATTRIBUTION}
    trimmed["paths"] = {}
    for method, path in ops:
        item = trimmed["paths"].setdefault(path, {})
        if "parameters" in spec["paths"][path]:
            item["parameters"] = spec["paths"][path]["parameters"]
        item[method] = spec["paths"][path][method]
    needed: set[str] = set()
    refs_of(trimmed["paths"], needed)
    done: set[str] = set()
    while needed - done:
        name = sorted(needed - done)[0]
        done.add(name)
        refs_of(schemas[name], needed)
    components = copy.deepcopy({k: v for k, v in spec["components"].items() if k != "schemas"})
    components["schemas"] = {name: schemas[name] for name in sorted(done)}
    trimmed["components"] = components
    SERVED_DOCUMENT.write_text(json.dumps(trimmed, separators=(",", ":")) + "\n", "utf-8")
    print(
        f"{len(ops)} served operations, {len(request)} request schemas -> "
        f"{REQUEST_SCHEMAS.relative_to(ROOT)}; {len(done)} component schemas -> "
        f"{SERVED_DOCUMENT.relative_to(ROOT)} ({SERVED_DOCUMENT.stat().st_size // 1024} KiB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
