"""The sandbox's store (``core.SandboxState``) and the rules every kind shares: the clock,
the common write rules, the list filters, the seeding order. Per-kind code is in
``dagster_aha/testing/kinds/``."""

from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.state.core import SandboxState

__all__ = ["SandboxError", "SandboxState"]
