"""Refresh the state of the example's state-backed components (what ``dg utils
refresh-defs-state`` does), in process: the demo runs it before loading its definitions.

Without it the definitions still load (from ``defs.yaml`` alone, with a log line saying how to
refresh); with it they also know the account's custom tables and typed columns.
"""

from __future__ import annotations

import asyncio
import shutil

from dagster.components.component.state_backed_component import StateBackedComponent
from dagster.components.core.component_tree import ComponentTree

from aha_example import settings

__all__ = ["STATE_DIR", "forget_state", "refresh_state"]

#: Where Dagster keeps local component state (``LOCAL_FILESYSTEM``): beside the defs.
STATE_DIR = settings.PACKAGE_DIR / "defs" / ".local_defs_state"


def refresh_state() -> list[str]:
    """Refresh every state-backed component of the project; returns their state keys."""
    tree = ComponentTree.for_project(settings.PROJECT_ROOT)
    keys: list[str] = []
    for component in tree.get_all_components(of_type=StateBackedComponent):
        asyncio.run(component.refresh_state(settings.PROJECT_ROOT))
        keys.append(component.defs_state_config.key)
    return keys


def forget_state() -> None:
    """Delete the stored component state (definitions then load from YAML alone)."""
    shutil.rmtree(STATE_DIR, ignore_errors=True)
