"""The demo materializes the whole graph, the dbt assets included: their manifest is prepared once per run."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _manifest(dbt_manifest):
    """The dbt assets are read from the manifest prepared once per run."""
