from __future__ import annotations

from collections.abc import Iterator

import pytest

from dagster_aha.testing import AhaSandbox

from ._api import Api


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[AhaSandbox]:
    """Read-only tests share one small sandbox (never write through it)."""
    with AhaSandbox(
        products=2, releases_per_product=3, features_per_release=12, enforce_rate_limits=False
    ) as sb:
        yield sb


@pytest.fixture
def ro(shared_sandbox: AhaSandbox) -> Iterator[Api]:
    api = Api(shared_sandbox)
    yield api
    api.session.close()


@pytest.fixture
def api(aha_sandbox: AhaSandbox) -> Iterator[Api]:
    a = Api(aha_sandbox)
    yield a
    a.session.close()
