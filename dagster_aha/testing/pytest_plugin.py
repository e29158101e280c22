"""pytest plugin (``pytest11`` entry point): the ``aha_sandbox`` fixture.

Function-scoped, small seeded data (2 products x 2 releases x 5 features), rate limits off.
Override per test with ``@pytest.mark.aha_sandbox(**AhaSandbox_kwargs)``, e.g.
``@pytest.mark.aha_sandbox(enforce_rate_limits=True, requests_per_second=5)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox

FIXTURE_DEFAULTS: dict[str, Any] = {
    "products": 2,
    "releases_per_product": 2,
    "features_per_release": 5,
    "enforce_rate_limits": False,
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "aha_sandbox(**kwargs): keyword arguments for the aha_sandbox fixture's AhaSandbox",
    )


@pytest.fixture
def aha_sandbox(request: pytest.FixtureRequest) -> Iterator[AhaSandbox]:
    """A running :class:`~dagster_aha.testing.AhaSandbox`, stopped after the test."""
    from dagster_aha.testing.server import AhaSandbox

    kwargs = dict(FIXTURE_DEFAULTS)
    marker = request.node.get_closest_marker("aha_sandbox")
    if marker is not None:
        kwargs.update(marker.kwargs)
    with AhaSandbox(**kwargs) as sandbox:
        yield sandbox
