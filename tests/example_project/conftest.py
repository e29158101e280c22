"""Make the example project's package (example_project/aha_example) importable in tests."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLE_ROOT = Path(__file__).resolve().parents[2] / "example_project"
if str(EXAMPLE_ROOT) not in sys.path:
    sys.path.insert(0, str(EXAMPLE_ROOT))


import shutil  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

#: The example component's local state (``dg utils refresh-defs-state`` / the demo write it).
STATE_DIR = EXAMPLE_ROOT / "aha_example" / "defs" / ".local_defs_state"


@pytest.fixture(autouse=True)
def _no_component_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each test starts without the example's component state (as a fresh clone does); a
    state a developer refreshed by hand is put back afterwards."""
    saved = None
    if STATE_DIR.exists():
        saved = tmp_path_factory.mktemp("saved_state") / "state"
        shutil.move(str(STATE_DIR), saved)
    try:
        yield
    finally:
        shutil.rmtree(STATE_DIR, ignore_errors=True)
        if saved is not None:
            shutil.move(str(saved), STATE_DIR)
