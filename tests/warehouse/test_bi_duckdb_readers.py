"""The local DuckDB warehouse is synced while another process (a BI tool) holds it open read-only: the
sync writes a copy and swaps it in; the reader keeps its snapshot until it reconnects."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pytest

from ledger_pipeline.warehouse import TargetConfig, create_destination, sync_target
from ledger_pipeline.warehouse.duckdb import WarehouseFileBusy
from tests.warehouse.conftest import assert_equal_to_ledger, post, sync

READER = textwrap.dedent("""
    import sys, duckdb
    path = sys.argv[1]
    conn = duckdb.connect(path, read_only=True)
    count = lambda c: c.execute("SELECT count(*) FROM main.ledger_transactions").fetchone()[0]
    print("open", count(conn), flush=True)
    sys.stdin.readline()                      # the sync runs meanwhile
    print("same connection", count(conn), flush=True)
    conn.close()
    fresh = duckdb.connect(path, read_only=True)
    print("reconnected", count(fresh), flush=True)
    fresh.close()
""")


class Reader:
    """A read-only DuckDB connection held open by another process."""

    def __init__(self, path):
        self.process = subprocess.Popen([sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.first = self._line("open")

    def _line(self, label: str) -> int:
        line = self.process.stdout.readline()
        assert line.startswith(label), (line, self.process.stderr.read() if not line else "")
        return int(line.split()[-1])

    def finish(self) -> tuple[int, int]:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        same, fresh = self._line("same connection"), self._line("reconnected")
        assert self.process.wait(30) == 0
        return same, fresh

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def local_target(tmp_path) -> TargetConfig:
    return TargetConfig("local", "duckdb", {"path": str(tmp_path / "warehouse.duckdb"),
                                            "retry": {"attempts": 1}})


def test_sync_succeeds_while_another_process_reads_the_file(duckdb_ledger, local_target, tmp_path):
    sync(duckdb_ledger, local_target)
    reader = Reader(tmp_path / "warehouse.duckdb")
    try:
        assert reader.first == 300
        post(duckdb_ledger, 25, seed=7, prefix="r")
        result = sync(duckdb_ledger, local_target)  # one attempt only: no retry hides a lock failure
        assert result.rows["ledger_transactions"] == 25
        same, fresh = reader.finish()
    finally:
        reader.kill()
    assert (same, fresh) == (300, 325)  # the old snapshot until it reconnects, then the new file
    assert_equal_to_ledger(duckdb_ledger, local_target)
    assert sync(duckdb_ledger, local_target).total_rows == 0  # the position moved with the rows
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("warehouse.duckdb")) == \
        ["warehouse.duckdb", "warehouse.duckdb.sync.lock"]  # no copy left behind


def test_swap_keeps_other_schemas_of_the_file(duckdb_ledger, local_target, tmp_path):
    """dbt's models live in the same file (schema reporting): a swap carries them over."""
    sync(duckdb_ledger, local_target)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        conn.execute("CREATE SCHEMA reporting; CREATE TABLE reporting.model AS SELECT 42 AS answer")
    reader = Reader(tmp_path / "warehouse.duckdb")
    try:
        post(duckdb_ledger, 5, seed=8, prefix="s")
        sync(duckdb_ledger, local_target)
        reader.finish()
    finally:
        reader.kill()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT answer FROM reporting.model").fetchone() == (42,)
        assert conn.execute("SELECT count(*) FROM main.ledger_transactions").fetchone() == (305,)


def test_swap_is_refused_when_the_file_changed_during_the_sync(duckdb_ledger, tmp_path):
    """Another writer wrote the file after it was copied: the copy is dropped (a transient error, retried)
    and nothing it wrote is lost."""
    path = tmp_path / "warehouse.duckdb"
    target = TargetConfig("local", "duckdb", {"path": str(path), "swap": "always", "retry": {"attempts": 1}})
    sync_target(duckdb_ledger, target)
    destination = create_destination(target)
    destination.open()
    assert destination.copy_path is not None
    destination.positions()
    with duckdb.connect(str(path)) as other:  # the copy is open, not the file: another writer gets in
        other.execute("CREATE TABLE written_meanwhile AS SELECT 1 AS x")
    with pytest.raises(WarehouseFileBusy):
        destination.close()
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT x FROM written_meanwhile").fetchone() == (1,)
    assert not list(tmp_path.glob("warehouse.duckdb.sync-*"))
    post(duckdb_ledger, 3, seed=9, prefix="w")
    result = sync_target(duckdb_ledger, target)  # the next attempt starts from the current file
    assert result.rows["ledger_transactions"] == 3
    assert_equal_to_ledger(duckdb_ledger, target)


def test_concurrent_syncs_of_one_file_serialise(duckdb_ledger, local_target):
    first = create_destination(local_target)
    first.open()
    try:
        with pytest.raises(WarehouseFileBusy):
            create_destination(local_target).open()
    finally:
        first.close()
    assert sync_target(duckdb_ledger, local_target).rows["ledger_transactions"] == 300
