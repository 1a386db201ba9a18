"""What the input-path tests share: a store per engine and path, the hypothesis settings of a run, and the
checks of every example (each path and engine ends as the reference path; every store's invariants hold) and
of the run (the examples and posts it made, reported to ``conftest.py``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, seed, settings

from ledger_pipeline.ledger.invariants import check_invariants
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store
from tests.conftest import pg_schema
from tests.differential.seed import SEED

ENGINES = ("duckdb", "postgres")


def examples(max_examples: int) -> Callable[[Callable], Callable]:
    """The settings of a run: the run's seed and no shrinking (every example posts to every store; a failure
    is reported as drawn, and its seed draws it again)."""

    def decorate(test: Callable) -> Callable:
        return seed(SEED)(settings(max_examples=max_examples, deadline=None, database=None,
                                   phases=[Phase.explicit, Phase.reuse, Phase.generate],
                                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])(test))

    return decorate


@dataclass
class PathRun:
    """The stores of one test (one per engine and path), the examples it drew and the posts it made."""

    stores: dict[tuple[str, str], Store]
    invariants_every: int  # examples between two checks of every store's invariants (and after the last)
    examples: int = 0
    posts: int = 0

    @classmethod
    def open(cls, stack: ExitStack, tmp_path: Path, paths: Iterable[str], invariants_every: int) -> PathRun:
        """A new store per engine and path: a DuckDB file in ``tmp_path``, a PostgreSQL schema that ``stack``
        drops."""
        stores = {}
        for engine, path in itertools.product(ENGINES, paths):
            url = (f"duckdb:///{tmp_path / f'{path}.duckdb'}" if engine == "duckdb"
                   else stack.enter_context(pg_schema()))
            stores[engine, path] = Store(url)
            initialize_store(stores[engine, path])
        return cls(stores, invariants_every)

    def next_example(self) -> int:
        """The number of the example drawn now (0, 1, ...)."""
        self.examples += 1
        return self.examples - 1

    def compare(self, n: int, outcomes: dict[tuple[str, str], Any], reference: tuple[str, str]) -> Any:
        """Example ``n`` ended on every path and engine as on ``reference`` (its outcome, returned)."""
        expected = outcomes[reference]
        for key, outcome in outcomes.items():
            assert outcome == expected, (key, outcome, expected)
        if n % self.invariants_every == 0:
            self.assert_invariants()
        return expected

    def assert_invariants(self) -> None:
        for key, store in self.stores.items():
            with store.connect(read_only=True) as conn:
                assert check_invariants(conn) == [], key

    def finish(self, request: pytest.FixtureRequest, examples: int, posts: int) -> None:
        """After the last example: every store's invariants hold, and the run drew ``examples`` and made
        ``posts`` (recorded as ``differential_posts`` for the summary of ``conftest.py``)."""
        self.assert_invariants()
        request.node.user_properties.append(("differential_posts", (self.examples, self.posts)))
        assert (self.examples, self.posts) == (examples, posts)
