"""Write bodies checked against Aha!'s request schemas, as Aha! checks them.

The schemas are not hand-written: ``request_schemas.json`` is generated from Aha!'s OpenAPI
document by ``scripts/extract_openapi.py`` (one schema per write operation the sandbox serves,
keyed ``"POST /releases/{release_id}/features"``). A body that does not match answers
``400 {"error": "..."}`` (a malformed request, aha-api.md §6) and changes nothing.
"""

from __future__ import annotations

import json
import threading
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from dagster_aha.testing.errors import SandboxError

_lock = threading.Lock()
_validators: dict[tuple[str, str], Draft202012Validator] | None = None


def schema_shape(path: str) -> str:
    """``/releases/{release_id}/features`` -> ``releases/*/features``."""
    return "/".join("*" if s.startswith("{") else s for s in path.strip("/").split("/"))


def _load() -> dict[tuple[str, str], Draft202012Validator]:
    global _validators
    with _lock:
        if _validators is None:
            text = resources.files("dagster_aha.testing").joinpath("request_schemas.json")
            doc = json.loads(text.read_text("utf-8"))
            out = {}
            for key, schema in doc["operations"].items():
                method, _, path = key.partition(" ")
                Draft202012Validator.check_schema(schema)
                out[(method, schema_shape(path))] = Draft202012Validator(schema)
            _validators = out
        return _validators


def has_schema(method: str, shape: str) -> bool:
    return (method, shape) in _load()


def _where(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "body"


def validate_body(method: str, shape: str, body: Any) -> None:
    """Raise a 400 :class:`SandboxError` when ``body`` violates the request schema of the
    operation ``method`` + ``shape`` (route shape ``releases/*/features``); no schema, or no
    body (the handler answers that), passes."""
    if body is None:
        return
    validator = _load().get((method, shape))
    if validator is None:
        return
    error = best_match(validator.iter_errors(body))
    if error is None:
        return
    expected = error.validator_value if error.validator == "type" else None
    if expected is not None:
        got = type(error.instance).__name__
        got = {"dict": "object", "list": "array", "str": "string", "NoneType": "null"}.get(got, got)
        detail = f"must be of type {expected}, not {got}"
    else:
        detail = error.message[:200]
    raise SandboxError(400, f"Invalid request body: {_where(error)} {detail}")
