"""Shared fixtures. Every store-backed test runs twice: on an embedded DuckDB file and on PostgreSQL.

PostgreSQL is expected at ``LEDGER_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each test gets its own schema, dropped afterwards. When PostgreSQL cannot be reached the PostgreSQL half
fails loudly (it is not skipped), unless ``LEDGER_TEST_SKIP_POSTGRES=1`` is set on a developer machine.

``make test`` runs the suite on pytest-xdist workers, the slow tests first. Everything a test writes is
its own (``tmp_path``, a schema named by a fresh uuid, a free port), and each worker has its own
``DAGSTER_HOME`` and starts the emulator processes its tests need. What is shared is prepared once under a
file lock: the dbt manifest in ``dbt_project/target`` (``dbt_manifest``) and the BigQuery emulator's
virtualenv (tests/warehouse/emulators.py). A new DuckDB store is a copy of a file initialised once per worker
(``duckdb_template``), not a schema created again for every test.

Every test that writes to a store in this process ends with ``check_invariants`` on that store (see
``pytest_runtest_call``): a test that leaves wrong money behind fails even when its own assertions pass. A
test that breaks a store on purpose is marked ``breaks_invariants``.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from ledger_pipeline import paths
from ledger_pipeline.ledger.invariants import check_invariants
from ledger_pipeline.ledger.store import Connection, Store
from ledger_pipeline.store_setup import initialize_store

PG_URL = os.environ.get("LEDGER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
FIXTURES = Path(__file__).parent / "fixtures"

# The differential tests' hypothesis seed, one per run: drawn here, in the process that starts the xdist
# workers and before it does, so that every worker inherits it and the report names the seed they all used
# (``DIFFERENTIAL_SEED=<n>`` replays a run; tests/differential/seed.py).
os.environ.setdefault("DIFFERENTIAL_SEED", str(random.SystemRandom().randrange(2**32)))
os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "true")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def _pg_admin():
    import psycopg

    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("LEDGER_TEST_SKIP_POSTGRES") == "1":
            pytest.skip(f"PostgreSQL unreachable and LEDGER_TEST_SKIP_POSTGRES=1: {exc}")
        pytest.fail(f"PostgreSQL is required at {PG_URL} and could not be reached: {exc}", pytrace=False)


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A PostgreSQL store URL on a fresh schema of its own; the schema is dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}schema={schema}"
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_schema_url():
    """``pg_schema`` as a fixture."""
    with pg_schema() as url:
        yield url


@pytest.fixture
def duckdb_url(tmp_path):
    return f"duckdb:///{tmp_path / 'ledger.duckdb'}"


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request):
    """The URL of an empty store, on each engine in turn."""
    if request.param == "duckdb":
        return request.getfixturevalue("duckdb_url")
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture(scope="session")
def duckdb_template(tmp_path_factory) -> Path:
    """A DuckDB store file as ``initialize_store`` leaves a new one, made once per worker: ``new_store``
    copies it (milliseconds) where creating the schema again would take about a second."""
    path = tmp_path_factory.mktemp("template") / "ledger.duckdb"
    initialize_store(Store(f"duckdb:///{path}"))
    return path


def new_store(url: str, request: pytest.FixtureRequest) -> Store:
    """An initialised store at ``url`` (schema + the default ledger ``main``): a copy of ``duckdb_template``
    for a DuckDB file that does not exist yet, ``initialize_store`` otherwise."""
    if url.startswith("duckdb:///") and not Path(url.removeprefix("duckdb:///")).exists():
        shutil.copyfile(request.getfixturevalue("duckdb_template"), url.removeprefix("duckdb:///"))
        return Store(url)
    store = Store(url)
    initialize_store(store)
    return store


@pytest.fixture
def store(store_url, request) -> Store:
    """An initialised store (schema + the default ledger ``main``), on each engine in turn."""
    return new_store(store_url, request)


# -- running on several xdist workers

def pytest_collection_modifyitems(config, items):
    # The slow tests first (a stable sort keeps the rest in file order): a worker that picks one up last
    # would otherwise leave the other idle at the end of the run.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def _own_dagster_home(tmp_path_factory):
    """A ``DAGSTER_HOME`` per worker (``make test`` exports the checkout's ``.dagster_home``, which the
    Dagster UI of a developer uses), so no test writes runs or storage there."""
    home = tmp_path_factory.mktemp("dagster_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def dbt_manifest():
    """The dbt project with a current ``target/manifest.json`` (``dbt parse`` when it is missing or stale).

    dagster-dbt reads the manifest when the definitions load, so tests that load them take this first. The
    file lock makes one worker parse while the others wait, and they then find the manifest current;
    without it a worker could read the manifest while another one rewrites it.
    """
    from ledger_pipeline.defs.reporting.project import prepared_reporting_project

    target = paths.DBT_PROJECT_DIR / "target"
    target.mkdir(exist_ok=True)
    with FileLock(str(target / "tests-prepare.lock"), timeout=900):
        return prepared_reporting_project()


# -- the invariants at the end of every test that writes to a store

_WRITTEN: set[str] = set()  # targets of the stores written in the running test
_WRITTEN_GUARD = threading.Lock()
_change_seq = Connection.change_seq


def _recording_change_seq(self: Connection) -> int:
    """``Connection.change_seq`` (every write takes one), noting the store it writes to."""
    with _WRITTEN_GUARD:
        _WRITTEN.add(self.engine.target)
    return _change_seq(self)


Connection.change_seq = _recording_change_seq


def pytest_runtest_setup(item):
    with _WRITTEN_GUARD:
        _WRITTEN.clear()


_FILE_TARGETS = pytest.StashKey[list]()


def _is_file(target: str) -> bool:
    return not target.startswith(("postgresql:", "postgres:"))


def _assert_invariants(targets: list[str]) -> None:
    for target in targets:
        violations = _invariant_violations(target)
        assert not violations, f"invariants broken in {target}: {[v.detail for v in violations]}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After the test body, ``check_invariants`` on every store the test or its fixtures wrote to: a PostgreSQL
    store here, before its fixtures drop the schema; a DuckDB file after the fixtures' teardown, once a server
    process a fixture started has let go of the file. A store that is gone or in memory is skipped."""
    result = yield  # a test that failed is reported as it failed
    with _WRITTEN_GUARD:
        targets = sorted(_WRITTEN)
        _WRITTEN.clear()
    checked = item.get_closest_marker("breaks_invariants") is None
    item.stash[_FILE_TARGETS] = [t for t in targets if _is_file(t)] if checked else []
    if checked:
        _assert_invariants([t for t in targets if not _is_file(t)])
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    _assert_invariants(item.stash.get(_FILE_TARGETS, []))
    return result


def _invariant_violations(target: str) -> list:
    if _is_file(target) and (":memory:" in target or not Path(target).exists()):
        return []
    try:
        store = Store(target)
        with store.connect(read_only=True) as conn:
            return check_invariants(conn)
    except Exception as exc:  # the schema was dropped, or the store never got its tables
        if "does not exist" in str(exc) or "not found" in str(exc).lower() or "no such" in str(exc).lower():
            return []
        raise


def pytest_report_header(config):
    seed = os.environ["DIFFERENTIAL_SEED"]
    return f"differential tests: hypothesis seed {seed} (replay with DIFFERENTIAL_SEED={seed})"


def pytest_terminal_summary(terminalreporter):
    """The differential tests' seed again at the end, and how many generated batches the input-path tests
    posted (each records ``differential_posts``: (generated batches, posts across paths and engines) in its
    report, which reaches this process under xdist)."""
    batches = posts = 0
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for name, value in getattr(report, "user_properties", ()):
            if name == "differential_posts" and report.when == "call":
                batches += value[0]
                posts += value[1]
    seed = os.environ["DIFFERENTIAL_SEED"]
    line = f"differential tests: hypothesis seed {seed} (replay with DIFFERENTIAL_SEED={seed})"
    if posts:
        line += f"; input paths: {batches} generated batches, {posts} posts across paths and engines"
    terminalreporter.write_line(line)
