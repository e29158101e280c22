"""Fixtures for the read-side tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dagster_aha.testing import AhaSandbox

SMALL = {
    "products": 2,
    "releases_per_product": 2,
    "features_per_release": 5,
    "enforce_rate_limits": False,
}


@pytest.fixture
def aha() -> Iterator[AhaSandbox]:
    with AhaSandbox(**SMALL) as sandbox:
        yield sandbox
