"""Custom pivot reports (``GET /api/v1/bookmarks/custom_pivots/:report_id``).

* :class:`PivotListReport` (``view=list``): ``columns`` + ``rows`` (each row a list of cells
  aligned with ``columns``). A cell is ``{id, plain_value, html_value, rich_value}``, or a *list*
  of such objects for a multi-valued column.
* :class:`PivotViewReport` (``view=pivot``): referential: ``rows``/``columns`` maps of headers
  (nested through ``parent_ref``/``child_refs``), ``field_definitions`` and nested ``cells``
  whose innermost arrays are the fields of one value.

Cells are kept as raw dicts (not one model per cell) so that 100,000 cells parse and flatten
in well under a second.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dagster_aha.client.errors import AhaResponseError
from dagster_aha.client.models import Pagination

__all__ = [
    "PivotColumn",
    "PivotFieldDefinition",
    "PivotHeader",
    "PivotListReport",
    "PivotViewReport",
    "ValueKind",
    "cell_value",
]

ValueKind = Literal["plain", "html", "rich", "id"]
_VALUE_KEYS = {"plain": "plain_value", "html": "html_value", "rich": "rich_value", "id": "id"}


def _value_key(value: str) -> str:
    try:
        return _VALUE_KEYS[value]
    except KeyError:
        raise ValueError(f"value must be one of {sorted(_VALUE_KEYS)}, got {value!r}") from None


def _ref(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def cell_value(cell: Any, key: str) -> Any:
    """One cell's value for ``key`` (``plain_value``...); lists are multi-valued cells.

    For a multi-valued cell, plain and html values are joined with ``", "``; rich values and
    ids are returned as a list.
    """
    if cell is None:
        return None
    if isinstance(cell, dict):
        v = cell.get(key)
        if key == "id" and v is not None and not isinstance(v, str):
            return str(v)
        return v
    if isinstance(cell, list):
        vals = [cell_value(c, key) for c in cell]
        if key in ("plain_value", "html_value"):
            return ", ".join("" if v is None else str(v) for v in vals)
        return vals
    return cell  # a bare scalar: tolerate it


def _unique(names: list[str]) -> list[str]:
    """``names`` with repeats suffixed ``" (2)"``, ``" (3)"``... (linear time)."""
    seen: dict[str, int] = {}
    out: list[str] = []
    taken = set(names)
    for name in names:
        if name not in seen:
            seen[name] = 1
            out.append(name)
            continue
        n = seen[name]
        while True:
            n += 1
            cand = f"{name} ({n})"
            if cand not in taken:
                break
        seen[name] = n
        taken.add(cand)
        out.append(cand)
    return out


#: What each part of a report must be (named in the error for any other shape).
_EXPECTED = {
    "columns": "a list of column objects ({table, field, title}) in a list view, an object of "
    "column headers keyed by ref in a pivot view",
    "rows": "a list of rows (each a list of cells) in a list view, an object of row headers "
    "keyed by ref in a pivot view",
    "cells": "nested lists whose innermost lists hold cell objects",
    "field_definitions": "an object of field definitions keyed by ref",
    "top_level_rows": "a list of row refs",
    "top_level_columns": "a list of column refs",
    "child_refs": "a list of refs",
    "pagination": "a pagination object",
}


def _shape_error(what: str, exc: ValidationError) -> AhaResponseError:
    parts: list[str] = []
    for err in exc.errors()[:3]:
        loc = [str(x) for x in err.get("loc", ())]
        top = next((x for x in reversed(loc) if x in _EXPECTED), loc[0] if loc else "")
        expected = _EXPECTED.get(top, err.get("msg", "another shape"))
        parts.append(f"{'.'.join(loc) or 'the body'}: expected {expected}")
    return AhaResponseError(message=f"unexpected {what} shape: " + "; ".join(parts))


class _PivotModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Validate ``obj``; any other shape raises :class:`AhaResponseError` saying what
        was expected (never a raw pydantic ``ValidationError``)."""
        if not isinstance(obj, dict | BaseModel):
            raise AhaResponseError(
                message=f"unexpected {cls._what()} shape: expected a JSON object, got "
                f"{type(obj).__name__}"
            )
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise _shape_error(cls._what(), exc) from None

    @classmethod
    def _what(cls) -> str:
        return {
            "PivotListReport": "pivot list report",
            "PivotViewReport": "pivot view report",
        }.get(cls.__name__, f"pivot report {cls.__name__}")


class PivotColumn(_PivotModel):
    table: str | None = None
    field: str | None = None
    title: str | None = None

    @property
    def label(self) -> str:
        return self.title or ".".join(p for p in (self.table, self.field) if p) or "column"


class PivotListReport(_PivotModel):
    """A list-view custom pivot report (all pages concatenated)."""

    columns: list[PivotColumn] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    pagination: Pagination | None = None

    def column_names(self) -> list[str]:
        """Column titles, made unique with a ``" (2)"`` suffix where they repeat."""
        return _unique([c.label for c in self.columns])

    def to_rows(self, value: ValueKind = "plain") -> list[dict[str, Any]]:
        """One dict per row keyed by column title; ``value`` picks plain, html, rich or id."""
        key = _value_key(value)
        names = self.column_names()
        width = len(names)
        out: list[dict[str, Any]] = []
        for i, row in enumerate(self.rows):
            if len(row) != width:
                raise AhaResponseError(
                    message=f"pivot list row {i} has {len(row)} cells but the report has "
                    f"{width} columns"
                )
            out.append({name: cell_value(cell, key) for name, cell in zip(names, row, strict=True)})
        return out


class PivotFieldDefinition(_PivotModel):
    ref: Any = None
    table: str | None = None
    field: str | None = None
    title: str | None = None

    @property
    def label(self) -> str:
        return self.title or ".".join(p for p in (self.table, self.field) if p) or "field"


class PivotHeader(_PivotModel):
    """A row or column header of a pivot view."""

    ref: Any = None
    parent_ref: Any = None
    child_refs: list[Any] = Field(default_factory=list)
    id: Any = None
    plain_value: Any = None
    html_value: Any = None
    rich_value: Any = None
    field_definition_ref: Any = None

    @field_validator("child_refs", mode="before")
    @classmethod
    def _none_to_list(cls, v: Any) -> Any:
        return [] if v is None else v


class PivotViewReport(_PivotModel):
    """A pivot-view custom pivot report (no pagination)."""

    top_level_rows: list[Any] = Field(default_factory=list)
    top_level_columns: list[Any] = Field(default_factory=list)
    rows: dict[str, PivotHeader] = Field(default_factory=dict)
    columns: dict[str, PivotHeader] = Field(default_factory=dict)
    cells: list[Any] = Field(default_factory=list)
    field_definitions: dict[str, PivotFieldDefinition] = Field(default_factory=dict)

    def _title(self, ref: Any, what: str) -> str:
        fd = self.field_definitions.get(_ref(ref) or "")
        if fd is None:
            raise AhaResponseError(
                message=f"pivot report: {what} refers to field_definition_ref {ref!r}, "
                "which is not in field_definitions"
            )
        return fd.label

    def _path(
        self, headers: dict[str, PivotHeader], ref: str, kind: str, key: str
    ) -> list[tuple[str, Any]]:
        """[(level title, value)] from the top-level header down to ``ref``."""
        chain: list[tuple[str, Any]] = []
        cur: str | None = ref
        seen: set[str] = set()
        while cur is not None:
            if cur in seen:
                raise AhaResponseError(message=f"pivot report: cycle in {kind} headers at {cur!r}")
            seen.add(cur)
            h = headers.get(cur)
            if h is None:
                raise AhaResponseError(
                    message=f"pivot report: {kind}_ref {cur!r} is not in {kind}s"
                )
            title = self._title(h.field_definition_ref, f"{kind} {cur!r}")
            chain.append((title, cell_value({key: getattr(h, key, None)}, key)))
            cur = _ref(h.parent_ref)
        chain.reverse()
        return chain

    def iter_cell_groups(self) -> list[list[Any]]:
        """The innermost arrays of ``cells`` (a list holding cell dicts): the fields of one value.

        Elements of a group that are themselves lists are multi-valued cells.
        """
        groups: list[list[Any]] = []
        stack: list[Any] = [self.cells]
        while stack:
            node = stack.pop()
            if not isinstance(node, list) or not node:
                continue
            if any(isinstance(x, dict) for x in node):
                groups.append(node)
            else:
                stack.extend(reversed(node))
        return groups

    def to_rows(self, value: ValueKind = "plain") -> list[dict[str, Any]]:
        """Flatten to one dict per cell group.

        Columns: the row-header path (one column per nesting level, named by that level's
        field-definition title), then the column-header path, then each cell field named by
        its field-definition title. Repeated names get a ``" (2)"`` suffix.
        """
        key = _value_key(value)
        row_paths: dict[str, list[tuple[str, Any]]] = {}
        col_paths: dict[str, list[tuple[str, Any]]] = {}
        titles: dict[str, str] = {r: fd.label for r, fd in self.field_definitions.items()}
        out: list[dict[str, Any]] = []
        for group in self.iter_cell_groups():
            first = next(x for x in group if isinstance(x, dict))
            rref = _ref(first.get("row_ref"))
            cref = _ref(first.get("column_ref"))
            row: dict[str, Any] = {}
            suffixes: dict[str, int] = {}
            if rref is not None:
                rp = row_paths.get(rref)
                if rp is None:
                    rp = row_paths[rref] = self._path(self.rows, rref, "row", key)
                for name, v in rp:
                    _put(row, name, v, suffixes)
            if cref is not None:
                cp = col_paths.get(cref)
                if cp is None:
                    cp = col_paths[cref] = self._path(self.columns, cref, "column", key)
                for name, v in cp:
                    _put(row, name, v, suffixes)
            for cell in group:
                c0 = cell if type(cell) is dict else _first_cell(cell)
                if c0 is None:
                    continue
                fref = c0.get("field_definition_ref")
                title = titles.get(_ref(fref) or "")
                if title is None:
                    title = self._title(fref, "a cell")
                _put(row, title, cell_value(cell, key), suffixes)
            out.append(row)
        return out


def _first_cell(cell: Any) -> dict[str, Any] | None:
    """The cell object of one group element (the first of a multi-valued cell)."""
    if isinstance(cell, dict):
        return cell
    if isinstance(cell, list):
        if not cell:
            return None
        if all(isinstance(c, dict) for c in cell):
            return cell[0]
    raise AhaResponseError(
        message="unexpected pivot view report shape: expected each entry of a cell group to "
        f"be a cell object or a list of cell objects, got {type(cell).__name__}"
    )


def _put(row: dict[str, Any], name: str, v: Any, suffixes: dict[str, int]) -> None:
    """Set ``row[name]``; a repeated name gets the next free ``" (n)"`` suffix.

    ``suffixes`` remembers the last suffix used per name, so 8,000 same-titled fields take
    linear time rather than re-probing ``(2)``, ``(3)``... for each.
    """
    if name not in row:
        row[name] = v
        return
    n = suffixes.get(name, 1) + 1
    while f"{name} ({n})" in row:
        n += 1
    suffixes[name] = n
    row[f"{name} ({n})"] = v
