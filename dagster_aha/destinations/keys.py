"""Record identity: upsert match values (exact), ledger record keys, request content hashes.

Match values are compared exactly as Aha! stores them: no trimming, no case folding, no joining
of lists, a number never equals a string (``7`` vs ``"7"``), so two distinct upstream keys are
never merged, and the look-up sends the raw value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MISSING",
    "content_hash",
    "key_text",
    "raw_match_value",
    "same_key",
]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: The record does not carry the match field at all (not even as null).
MISSING: Any = _Missing()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(method: str, path: str, body: Any) -> str:
    """SHA-256 of the rendered request (method, path, body as canonical JSON)."""
    text = canonical_json({"method": method, "path": path, "body": body})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def raw_match_value(record: Mapping[str, Any], match_on: str) -> Any:
    """The raw upsert value of a body or of a record read back from Aha!, or :data:`MISSING`
    when the record does not carry the field (e.g. a listing that ignored ``fields=``).

    Understands both custom-field forms: the write map (``{"key": value}``) and the read array
    (``[{"key": ..., "value": ...}]``); a custom field absent from a present ``custom_fields``
    is unset (``None``), not missing.
    """
    if match_on.startswith("custom_fields."):
        cf_key = match_on[len("custom_fields.") :]
        if "custom_fields" not in record:
            return MISSING
        cfs = record.get("custom_fields")
        if isinstance(cfs, Mapping):
            return cfs.get(cf_key)
        if isinstance(cfs, list):
            for item in cfs:
                if isinstance(item, Mapping) and item.get("key") == cf_key:
                    return item.get("value")
        return None
    return record.get(match_on, MISSING)


def is_blank(value: Any) -> bool:
    """No usable key: missing, null, an empty/whitespace-only string, an empty list."""
    if value is MISSING or value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple) and len(value) == 0


def _norm(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return ("number", float(value))
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _norm(v)) for k, v in value.items()))
    return ("other", repr(value))


def same_key(a: Any, b: Any) -> bool:
    """Exact key equality: strings byte for byte, numbers by value (``7 == 7.0``, never
    ``"7"``), lists element by element in order, booleans only with booleans."""
    if a is MISSING or b is MISSING:
        return False
    return type(_norm(a)) is type(_norm(b)) and _norm(a) == _norm(b)


def ledger_value(value: Any) -> Any:
    """A key value for the ledger: integral floats as ints (``7.0`` is the key ``7``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        return [ledger_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): ledger_value(v) for k, v in value.items()}
    return value


def key_text(value: Any) -> str:
    """The key as shown in outcomes: a string as is, anything else as JSON."""
    return value if isinstance(value, str) else canonical_json(value)


def index_key(value: Any) -> str:
    """A dictionary key with :func:`same_key` semantics (``7`` and ``7.0`` alike, ``"7"`` not)."""
    return canonical_json(_index_form(value))


def _index_form(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        number = float(value)
        return {"n": int(number) if number.is_integer() else number}
    if isinstance(value, list | tuple):
        return [_index_form(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _index_form(v) for k, v in value.items()}
    return {"repr": repr(value)}
