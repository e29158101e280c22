"""What the ``AhaComponent`` builds from its state: product partitions, the custom tables to
read, and the ``execute`` hook around the read assets.

Everything here works on the stored snapshot (:class:`AhaAccountState`) or on definitions
already built: nothing calls Aha!.
"""

# NB: no ``from __future__ import annotations``: Dagster reads the ``config`` annotation of the
# wrapped asset functions at definition time.

import importlib
import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dagster as dg

from dagster_aha.components.account_state import AhaAccountState
from dagster_aha.resource import AhaResource
from dagster_aha.sources import AhaReadConfig

__all__ = [
    "REFRESH_COMMAND",
    "ProductPartitionsOption",
    "SelectedCustomTable",
    "custom_table_name",
    "has_local_state_dir",
    "import_resource",
    "product_partition_keys",
    "select_custom_tables",
    "wrap_with_execute",
]

ProductPartitionsOption = Literal["all", "dynamic"] | list[str] | None

_NAME_RE = re.compile(r"[^A-Za-z0-9_]")

#: The ``dg`` command that reads the account snapshot into the project's state directory.
REFRESH_COMMAND = "dg utils refresh-defs-state"


def safe_name(*parts: str) -> str:
    """``parts`` joined by ``_`` with anything but ``[A-Za-z0-9_]`` replaced (op/asset names)."""
    name = _NAME_RE.sub("_", "_".join(p for p in parts if p))
    if not name or name[0].isdigit():
        name = "aha_" + name
    return name


def product_partition_keys(
    option: ProductPartitionsOption, state: AhaAccountState | None
) -> list[str] | Literal["dynamic"] | None:
    """The static partition keys (reference prefixes) asked for, ``"dynamic"`` or ``None``.

    ``"all"`` needs the state: without it, ``None`` (unpartitioned; the caller logs why).
    A list is used as written (ids or prefixes), state or not.
    """
    if option is None or option == "dynamic":
        return option
    if option == "all":
        if state is None or not state.products:
            return None
        return list(dict.fromkeys(p.partition_key for p in state.products))
    keys = [str(k) for k in option if str(k)]
    if not keys:
        raise ValueError("product_partitions: the list must name at least one product")
    return list(dict.fromkeys(keys))


@dataclass(frozen=True)
class SelectedCustomTable:
    """One custom table asset to build."""

    product_id: str
    table_key: str
    name: str
    product_prefix: str | None = None


def custom_table_name(table_key: str, product_prefix: str | None, product_id: str) -> str:
    """Default asset name of a product's custom table: ``custom_table_<prefix>_<key>``."""
    return safe_name("custom_table", (product_prefix or product_id).lower(), table_key)


def _excluded(exclude: Sequence[str], key: str, prefix: str | None, pid: str) -> bool:
    for entry in exclude:
        text = str(entry)
        if "/" in text:
            product, _, table = text.partition("/")
            if table == key and product in (prefix, pid):
                return True
        elif text == key:
            return True
    return False


def select_custom_tables(
    requested: Literal["all"] | Sequence[tuple[str | None, str, str | None]],
    exclude: Sequence[str],
    state: AhaAccountState | None,
) -> tuple[list[SelectedCustomTable], list[str]]:
    """The custom table assets to build, and notes on what could not be built.

    ``requested`` is ``"all"`` (every table of the state) or ``(product or None, table key,
    asset name or None)`` entries. An entry naming its product needs no state; one without
    a product takes every product the state lists it for. ``exclude`` holds ``key`` or
    ``PRODUCT/key`` entries (opt-out).
    """
    selected: list[SelectedCustomTable] = []
    notes: list[str] = []
    seen: set[tuple[str, str]] = set()

    def add(pid: str, key: str, name: str | None, prefix: str | None) -> None:
        if (pid, key) in seen or _excluded(exclude, key, prefix, pid):
            return
        seen.add((pid, key))
        selected.append(
            SelectedCustomTable(
                product_id=pid,
                table_key=key,
                name=name or custom_table_name(key, prefix, pid),
                product_prefix=prefix,
            )
        )

    if requested == "all":
        for table in state.custom_tables if state is not None else ():
            add(table.product_id, table.key, None, table.product_prefix)
        return selected, notes
    for product_ref, key, name in requested:
        if product_ref is not None:
            product = state.product(product_ref) if state is not None else None
            pid = product.id if product is not None else product_ref
            prefix = product.reference_prefix if product is not None else None
            if product is None and state is not None:
                notes.append(f"custom table {key!r}: product {product_ref!r} not in the state")
            add(pid, key, name, prefix if prefix is not None else product_ref)
            continue
        if state is None:
            notes.append(f"custom table {key!r} names no product: needs the state")
            continue
        matches = [t for t in state.custom_tables if t.key == key]
        if not matches:
            notes.append(f"custom table {key!r}: no product holds it in the state")
        for table in matches:
            add(
                table.product_id,
                table.key,
                name if len(matches) == 1 else None,
                table.product_prefix,
            )
    return selected, notes


ExecuteFn = Callable[[dg.AssetExecutionContext, Any], Iterator[Any]]


def _inner_body(assets_def: dg.AssetsDefinition) -> tuple[Callable[..., Any], bool]:
    compute: Any = assets_def.op.compute_fn
    fn: Callable[..., Any] = getattr(compute, "decorated_fn", compute)
    takes_config = "config" in inspect.signature(fn).parameters
    return fn, takes_config


def default_body(assets_def: dg.AssetsDefinition) -> Callable[[Any], Iterator[Any]]:
    """The read body of a factory-built Aha! asset, as ``body(context)``."""
    fn, takes_config = _inner_body(assets_def)

    def body(context: Any) -> Iterator[Any]:
        if takes_config:
            raw = context.op_execution_context.op_config or {}
            yield from fn(context, AhaReadConfig(**raw))
        else:
            yield from fn(context)

    return body


def wrap_with_execute(
    assets_def: dg.AssetsDefinition, execute: ExecuteFn, resource_key: str
) -> dg.AssetsDefinition:
    """The same assets (keys, specs, checks, partitions, pool), their step run by ``execute``.

    ``execute(context, aha)`` receives the step's context and the ``AhaResource``; the
    component's default ``execute`` runs the factory's read body.
    """
    _fn, takes_config = _inner_body(assets_def)
    op = assets_def.op
    outs: dict[str, dg.AssetOut] = {}
    specs = {spec.key: spec for spec in assets_def.specs}
    for output_name, key in assets_def.keys_by_output_name.items():
        output_def = op.output_def_named(output_name)
        spec = specs[key]
        outs[output_name] = dg.AssetOut.from_spec(
            spec.replace_attributes(partitions_def=None) if spec.partitions_def else spec,
            dagster_type=output_def.dagster_type,
            is_required=output_def.is_required,
            io_manager_key=output_def.io_manager_key,
        )
    decorator = dg.multi_asset(
        name=op.name,
        outs=outs,
        check_specs=list(assets_def.check_specs),
        can_subset=assets_def.can_subset,
        partitions_def=assets_def.partitions_def,
        required_resource_keys=set(assets_def.required_resource_keys),
        pool=op.pool,
        op_tags=dict(op.tags) if op.tags else None,
        description=op.description,
    )

    if takes_config:

        def _with_config(context: dg.AssetExecutionContext, config: AhaReadConfig) -> Any:
            yield from execute(context, getattr(context.resources, resource_key))

        return decorator(_with_config)

    def _plain(context: dg.AssetExecutionContext) -> Any:
        yield from execute(context, getattr(context.resources, resource_key))

    return decorator(_plain)


def import_resource(path: str) -> AhaResource:
    """The ``AhaResource`` named by ``package.module:attribute`` (called if it is a function)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"state_resource must look like 'package.module:function', not {path!r}")
    value = getattr(importlib.import_module(module_name), attribute)
    if callable(value) and not isinstance(value, AhaResource):
        value = value()
    if not isinstance(value, AhaResource):
        raise TypeError(f"state_resource {path!r} gave {type(value).__name__}, not an AhaResource")
    return value


def has_local_state_dir(project_root: Path) -> bool:
    """Whether ``project_root`` is a dg project whose defs module can hold local state."""
    from dagster.components.utils.project_paths import get_defs_module_path_for_project

    try:
        get_defs_module_path_for_project(project_root)
    except Exception:
        return False
    return True
