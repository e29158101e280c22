"""The ``AhaComponent``'s state: a snapshot of what the account holds, fetched on demand.

``dg utils refresh-defs-state`` calls :func:`fetch_account_state` (through the component) and
writes the result as JSON; definitions are then built from that file without calling Aha!.
The snapshot's models are in :mod:`dagster_aha.components.account_state_models` (re-exported
here). It holds:

* the account's products (workspaces): id, reference prefix, name, type;
* each product's custom tables (Enterprise+): key, name, record count;
* the custom field definitions: key, name, type, options, the record type using it;
* the custom pivot reports the YAML names: title and columns.

Requests (Aha! REST API v1, all documented except where marked): ``GET products`` (paged),
``GET custom_field_definitions``, ``GET custom_field_definitions/{id}/options`` for choice
fields whose options the definition does not carry, one ``GET products/{id}/custom_objects``
(a list of custom tables Aha! does not document [inferred]: used where a server answers it, and
given up at the first 404, so one request on Aha!), one ``GET
products/{id}/custom_objects/{key}/records?per_page=1`` per product and candidate table key not
listed (candidates are the keys the YAML names plus those the custom field definitions name
[inferred]), and ``GET bookmarks/custom_pivots/{id}?view=list&
per_page=1`` per report. A 403/404 on an optional part (custom tables on plans without them,
options) is recorded as a warning in the snapshot, never a silent gap; an authentication error
or a product listing that fails fails the refresh.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from dagster_aha.client import (
    AhaAuthError,
    AhaClient,
    AhaError,
    AhaNotFoundError,
    parse_pagination,
    quote_segment,
)
from dagster_aha.components.account_state_models import (
    CUSTOM_TABLE_RECORD_TYPES,
    STATE_VERSION,
    AhaAccountState,
    AhaCustomFieldDefinition,
    AhaCustomTable,
    AhaPivotReportColumn,
    AhaPivotReportState,
    AhaProductState,
)

__all__ = [
    "CUSTOM_TABLE_RECORD_TYPES",
    "STATE_VERSION",
    "AhaAccountState",
    "AhaCustomFieldDefinition",
    "AhaCustomTable",
    "AhaPivotReportColumn",
    "AhaPivotReportState",
    "AhaProductState",
    "fetch_account_state",
]

_log = logging.getLogger("dagster_aha")

#: Aha! custom field types (``CustomFieldDefinitions::<Type>``) whose values are chosen from
#: options.
_CHOICE_TYPES = ("Select", "Tags", "Choice", "Checkbox")

#: Keys a server's list of custom tables may come under [inferred].
_TABLE_LIST_KEYS = ("custom_objects", "custom_tables", "custom_object_definitions")


def _str_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text or None


def _table_key_of(raw: dict[str, Any]) -> str | None:
    """The custom table a definition belongs to, under the keys seen for it [inferred]."""
    for name in ("custom_object_key", "custom_table_key", "table_key"):
        key = _str_or_none(raw.get(name))
        if key:
            return key
    for name in ("custom_object", "custom_table"):
        nested = raw.get(name)
        if isinstance(nested, dict):
            key = _str_or_none(nested.get("key"))
            if key:
                return key
    return None


def _option_labels(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    labels: list[str] = []
    for item in raw:
        if isinstance(item, dict):
            label = item.get("label", item.get("text", item.get("name")))
            if label is not None:
                labels.append(str(label))
        elif isinstance(item, str):
            labels.append(item)
    return tuple(labels)


class _Fetch:
    def __init__(self, client: AhaClient) -> None:
        self.client = client
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        _log.warning("Aha! state refresh: %s", message)
        self.warnings.append(message)

    def products(self) -> list[AhaProductState]:
        out: list[AhaProductState] = []
        seen: set[str] = set()
        for raw in self.client.iter_records(
            "products",
            fields=["id", "reference_prefix", "name", "product_line", "workspace_type"],
            record_key="products",
        ):
            pid = _str_or_none(raw.get("id"))
            if pid is None or pid in seen:
                continue
            seen.add(pid)
            line = raw.get("product_line")
            out.append(
                AhaProductState(
                    id=pid,
                    reference_prefix=_str_or_none(raw.get("reference_prefix")),
                    name=_str_or_none(raw.get("name")),
                    product_line=line if isinstance(line, bool) else None,
                    workspace_type=_str_or_none(raw.get("workspace_type")),
                )
            )
        return out

    def custom_fields(self) -> list[AhaCustomFieldDefinition]:
        try:
            raws = list(
                self.client.iter_records(
                    "custom_field_definitions", record_key="custom_field_definitions"
                )
            )
        except AhaAuthError as exc:
            if exc.status == 401:
                raise
            self.warn(f"custom field definitions not readable ({exc.status}); no typed columns")
            return []
        except AhaNotFoundError:
            self.warn("custom field definitions not found (404); no typed custom columns")
            return []
        out: list[AhaCustomFieldDefinition] = []
        for raw in raws:
            key = _str_or_none(raw.get("key"))
            if key is None:
                continue
            definition = AhaCustomFieldDefinition(
                id=_str_or_none(raw.get("id")),
                key=key,
                name=_str_or_none(raw.get("name")),
                type=_str_or_none(raw.get("type")),
                api_type=_str_or_none(raw.get("api_type")),
                record_type=_str_or_none(raw.get("custom_fieldable_type")),
                custom_table_key=_table_key_of(raw),
                options=_option_labels(raw.get("options")),
            )
            if not definition.options and definition.id and self._is_choice(definition):
                definition = definition.model_copy(update={"options": self.options(definition)})
            out.append(definition)
        return out

    @staticmethod
    def _is_choice(definition: AhaCustomFieldDefinition) -> bool:
        return any(part in definition.short_type for part in _CHOICE_TYPES)

    def options(self, definition: AhaCustomFieldDefinition) -> tuple[str, ...]:
        path = f"custom_field_definitions/{quote_segment(definition.id or '')}/options"
        try:
            body = self.client.request("GET", path) or {}
        except (AhaNotFoundError, AhaAuthError) as exc:
            if isinstance(exc, AhaAuthError) and exc.status == 401:
                raise
            self.warn(f"options of custom field {definition.key!r} not readable ({exc.status})")
            return ()
        return _option_labels(body.get("options", body.get("custom_field_options")))

    def listed_tables(
        self, products: Sequence[AhaProductState]
    ) -> tuple[list[AhaCustomTable], list[AhaCustomFieldDefinition]]:
        """``GET products/{id}/custom_objects`` where the server has such a list [inferred].

        Aha! documents no list of custom tables; a server that answers one (a proxy, a future
        API) saves the probes. The first 404/403/405 ends the attempt: one request on Aha!.
        """
        tables: list[AhaCustomTable] = []
        fields: list[AhaCustomFieldDefinition] = []
        for product in products:
            path = f"products/{quote_segment(product.id)}/custom_objects"
            try:
                body = self.client.request("GET", path) or {}
            except AhaAuthError as exc:
                if exc.status == 401:
                    raise
                return tables, fields
            except AhaError:
                return tables, fields
            items = next((body[k] for k in _TABLE_LIST_KEYS if isinstance(body.get(k), list)), None)
            if items is None:
                return tables, fields
            for item in items:
                key = (
                    _str_or_none(item.get("key", item.get("table_key")))
                    if isinstance(item, dict)
                    else None
                )
                if key is None:
                    continue
                tables.append(
                    AhaCustomTable(
                        key=key,
                        product_id=product.id,
                        product_prefix=product.reference_prefix,
                        name=_str_or_none(item.get("name")),
                    )
                )
                for raw in item.get("fields") or item.get("custom_field_definitions") or []:
                    if isinstance(raw, dict) and _str_or_none(raw.get("key")):
                        fields.append(
                            AhaCustomFieldDefinition(
                                id=_str_or_none(raw.get("id")),
                                key=str(raw["key"]),
                                name=_str_or_none(raw.get("name")),
                                type=_str_or_none(raw.get("type")),
                                api_type=_str_or_none(raw.get("api_type")),
                                record_type="CustomObjectRecord",
                                custom_table_key=key,
                                options=_option_labels(raw.get("options")),
                            )
                        )
        return tables, fields

    def custom_tables(
        self,
        products: Sequence[AhaProductState],
        candidates: Sequence[tuple[str | None, str]],
        known: Sequence[AhaCustomTable] = (),
    ) -> list[AhaCustomTable]:
        """Probe each (product, table key) candidate; ``None`` as product means every product.

        ``known`` tables (listed by the server) are kept as they are and not probed again.
        """
        out: list[AhaCustomTable] = list(known)
        done: set[tuple[str, str]] = {(t.product_id, t.key) for t in known}
        for product_ref, key in candidates:
            targets = (
                list(products)
                if product_ref is None
                else [p for p in products if product_ref in (p.id, p.reference_prefix)]
            )
            if product_ref is not None and not targets:
                self.warn(f"custom table {key!r}: product {product_ref!r} is not in the account")
            for product in targets:
                if (product.id, key) in done:
                    continue
                done.add((product.id, key))
                table = self._probe(product, key)
                if table is not None:
                    out.append(table)
        return out

    def _probe(self, product: AhaProductState, key: str) -> AhaCustomTable | None:
        path = f"products/{quote_segment(product.id)}/custom_objects/{quote_segment(key)}/records"
        try:
            body = self.client.request("GET", path, params={"per_page": 1, "fields": "id"}) or {}
        except AhaNotFoundError:
            return None
        except AhaAuthError as exc:
            if exc.status == 401:
                raise
            return None  # 403: custom tables need Enterprise+, or the table is not visible
        pagination = parse_pagination(body)
        records = pagination.total_records if pagination is not None else None
        if records is None and isinstance(body.get("custom_object_records"), list):
            records = len(body["custom_object_records"])
        return AhaCustomTable(
            key=key,
            product_id=product.id,
            product_prefix=product.reference_prefix,
            name=None,
            records=records,
        )

    def pivot_report(self, report_id: str) -> AhaPivotReportState | None:
        path = f"bookmarks/custom_pivots/{quote_segment(report_id)}"
        try:
            body = (
                self.client.request("GET", path, params={"view": "list", "page": 1, "per_page": 1})
                or {}
            )
        except (AhaNotFoundError, AhaAuthError) as exc:
            if isinstance(exc, AhaAuthError) and exc.status == 401:
                raise
            self.warn(f"pivot report {report_id} not readable ({exc.status}); no columns known")
            return None
        columns = []
        raw_columns = body.get("columns")
        for raw in raw_columns if isinstance(raw_columns, list) else []:
            if isinstance(raw, dict):
                columns.append(
                    AhaPivotReportColumn(
                        table=_str_or_none(raw.get("table")),
                        field=_str_or_none(raw.get("field")),
                        title=_str_or_none(raw.get("title")),
                    )
                )
        title = None
        for name in ("title", "name"):
            title = _str_or_none(body.get(name))
            if title:
                break
        return AhaPivotReportState(report_id=report_id, title=title, columns=tuple(columns))


def fetch_account_state(
    client: AhaClient,
    *,
    pivot_report_ids: Sequence[str] = (),
    custom_tables: Sequence[tuple[str | None, str]] = (),
    discover_custom_tables: bool = True,
) -> AhaAccountState:
    """Read the snapshot of the account ``client`` points at.

    Args:
        client: an ``AhaClient`` (its pacing and retries apply).
        pivot_report_ids: the reports whose title and columns to record.
        custom_tables: ``(product id/prefix or None for every product, table key)`` pairs to
            look for, besides the tables the custom field definitions name.
        discover_custom_tables: also look for every table key the definitions name.

    Raises:
        AhaError: when the products cannot be listed (bad key, wrong account, outage).
    """
    before = client.stats.requests
    fetch = _Fetch(client)
    products = fetch.products()
    fields = fetch.custom_fields()
    candidates: list[tuple[str | None, str]] = [(p, str(k)) for p, k in custom_tables if k]
    if discover_custom_tables:
        for definition in fields:
            if definition.custom_table_key:
                candidates.append((None, definition.custom_table_key))
    listed, listed_fields = fetch.listed_tables(products)
    if listed_fields:
        known_fields = {(f.custom_table_key, f.key) for f in fields}
        fields.extend(f for f in listed_fields if (f.custom_table_key, f.key) not in known_fields)
    tables = fetch.custom_tables(products, _dedupe(candidates), listed) if products else []
    reports: list[AhaPivotReportState] = []
    for report_id in dict.fromkeys(str(r) for r in pivot_report_ids):
        report = fetch.pivot_report(report_id)
        if report is not None:
            reports.append(report)
    return AhaAccountState(
        account_url=client.account_url,
        fetched_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        products=tuple(products),
        custom_tables=tuple(tables),
        custom_fields=tuple(fields),
        pivot_reports=tuple(reports),
        requests=int(client.stats.requests - before),
        warnings=tuple(fetch.warnings),
    )


def _dedupe(items: Sequence[tuple[str | None, str]]) -> list[tuple[str | None, str]]:
    return list(dict.fromkeys(items))
