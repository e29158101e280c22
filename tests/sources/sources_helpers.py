"""Helpers for the read-side tests: a keyed in-memory IO manager and a ``materialize`` wrapper."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from dagster_aha.testing import AhaSandbox


class KeyedIOManager(dg.IOManager):
    """Keeps each output by (asset key, partition key) so tests can read asset values."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str | None], Any] = {}

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        partition = context.partition_key if context.has_partition_key else None
        self.values[(context.asset_key.to_user_string(), partition)] = obj

    def load_input(self, context: dg.InputContext) -> Any:
        raise AssertionError("no test loads inputs")


class Run:
    """One ``materialize`` call and what it produced."""

    def __init__(self, result: dg.ExecuteInProcessResult, io: KeyedIOManager) -> None:
        self.result = result
        self.io = io

    def rows(self, key: str, partition: str | None = None) -> list[dict[str, Any]]:
        return self.io.values[(key, partition)]

    def metadata(self, key: str) -> dict[str, Any]:
        """The materialization metadata of ``key`` as plain values."""
        for event in self.result.get_asset_materialization_events():
            if event.asset_key.to_user_string() == key:
                return {k: v.value for k, v in event.materialization.metadata.items()}
        raise KeyError(key)

    @property
    def materialized(self) -> set[str]:
        return {
            e.asset_key.to_user_string() for e in self.result.get_asset_materialization_events()
        }

    def checks(self) -> dict[tuple[str, str], bool]:
        return {
            (e.asset_key.to_user_string(), e.check_name): e.passed
            for e in self.result.get_asset_check_evaluations()
        }

    def check_metadata(self, key: str, name: str) -> dict[str, Any]:
        for e in self.result.get_asset_check_evaluations():
            if e.asset_key.to_user_string() == key and e.check_name == name:
                return {k: v.value for k, v in e.metadata.items()}
        raise KeyError((key, name))


def run(
    assets: Sequence[Any],
    aha: AhaSandbox,
    *,
    selection: Sequence[str] | None = None,
    instance: dg.DagsterInstance | None = None,
    partition_key: str | None = None,
    run_config: dict[str, Any] | None = None,
    resource_key: str = "aha",
    **resource_overrides: Any,
) -> Run:
    io = KeyedIOManager()
    result = dg.materialize(
        assets,
        resources={resource_key: aha.resource(**resource_overrides), "io_manager": io},
        selection=list(selection) if selection is not None else None,
        instance=instance,
        partition_key=partition_key,
        run_config=run_config,
    )
    assert result.success
    return Run(result, io)


def get_paths(aha: AhaSandbox) -> list[str]:
    return [r.path for r in aha.requests]
