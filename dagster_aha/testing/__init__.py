"""dagster_aha.testing: a stateful local Aha! API v1 simulator for tests, demos and benchmarks.

``from dagster_aha.testing import AhaSandbox, Fault``. A pytest plugin (``aha_sandbox``
fixture) and a CLI (``python -m dagster_aha.testing --port 8765``) ship with it.
"""

from dagster_aha.testing.faults import FAULT_KINDS, Fault
from dagster_aha.testing.server import AhaSandbox, RequestRecord, SandboxStats
from dagster_aha.testing.state import SandboxState

__all__ = ["FAULT_KINDS", "AhaSandbox", "Fault", "RequestRecord", "SandboxState", "SandboxStats"]
