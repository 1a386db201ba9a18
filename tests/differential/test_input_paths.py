"""Every input path gives the same result. Hypothesis generates batches of entry rows, hostile values
included (glob characters in file names, an account named after another account's id, fractional,
hexadecimal, huge and non-ASCII amounts, NUL, odd Unicode, metadata that is not JSON or differs only in
whitespace or key order, external_ids with white space at an end, a duplicate group), and posts each through a CSV file, a Parquet file, single writes
(``open_writer``) and quarantine replay (``replay_quarantine``), on DuckDB and on PostgreSQL. Every path and
engine must post the same entries, quarantine the same transactions with the same reason codes and leave
``check_invariants`` clean.

Each example posts to a ledger of its own (created in every store for it), so no example depends on what
an earlier one left in the store (a balance near its 38-digit limit, say). The replay path posts its file
first while the ledger lacks two of its accounts, so every transaction goes to quarantine with its raw
rows; it then creates them and replays those items, which must end as the direct paths ended.

Every ``DUPLICATE_EVERY``-th example repeats a group (a single write cannot express one, so that path
skips it), so the number of posts per run is fixed: ``POSTS``, asserted. Each example's files are written
once and posted into every store.

The seed is random per run and printed in the report (``DIFFERENTIAL_SEED=<n>`` replays a run); the number
of generated batches and posts is printed at the end of the run (``conftest.py``).
"""

from __future__ import annotations

import csv
import itertools
import json
import uuid
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger_pipeline.ledger import accounts as accounts_module
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account, ensure_ledger
from ledger_pipeline.ledger.errors import RuleViolation
from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer, post_batch_file
from ledger_pipeline.ledger.quarantine import replay_quarantine
from ledger_pipeline.ledger.store import Store
from tests.differential.paths import ENGINES, PathRun, examples

pytestmark = pytest.mark.slow  # scheduled first on the xdist workers (tests/conftest.py)

PATHS = ("csv", "parquet", "writer", "replay")
EXAMPLES = 41
DUPLICATE_EVERY = 5  # examples 0, 5, 10... repeat a group
#: x 8 paths and engines, less the single writes of the examples with a duplicate group; with the Stripe
#: paths (test_stripe_paths.py) at least 500 per run (test_post_count.py)
POSTS = len(PATHS) * len(ENGINES) * EXAMPLES - len(ENGINES) * len(range(0, EXAMPLES, DUPLICATE_EVERY))
INVARIANTS_EVERY = 10  # examples between two checks of every store's invariants (and after the last)
COLUMNS = ["external_id", "account", "direction", "amount_minor", "description", "metadata"]
CASH_ID = "@cash_id"  # stands for the id of account ``cash`` (fresh in each example), another account's name

GOOD_AMOUNTS = st.one_of(st.integers(min_value=1, max_value=10**6), st.integers(10**25, 10**30)).map(str)
BAD_AMOUNTS = st.sampled_from(["0", "-3", "1.5", "100.5", "2.0", " 7", "+5", "007", "1e2", "0x10", "1_000",
                               "1,000", "1" + "0" * 37, "9" * 39, "", "½", "٣", "１２"])
# "1" + "0" * 37 is the largest size that fits (38 digits) yet stays under 38 digits summed over the at most
# six transactions of an example on one account: sums past it refuse the whole write (docs/design.md,
# balance_overflow), which single writes cannot express; tests/ledger/test_never_silently_wrong.py covers it
GOOD_ACCOUNTS = ("cash", "revenue")
BAD_ACCOUNTS = st.sampled_from([CASH_ID, "ghost", "Cash", "cash\x00", "cash*", " cash", "ｃａｓｈ"])
KEYS = st.text(alphabet=st.sampled_from(["a", "b", "c", "é", "*", "[", "?", "\u202e", "𝔘", "'", ";", "\u0301"]),
               min_size=1, max_size=4)
BAD_KEYS = st.sampled_from(["a\x00", "", "\ufffd", "a\u0000b", "a ", " a", "\u00a0a"])
TEXTS = st.sampled_from([None, "", "plain", "Café ☃ 😀", "\u202eevil", "a\x00b", "\ufffd", "x" * 300])
METADATA = st.sampled_from([None, '{"k":1}', '{"k": 1}', '{"b":2,"a":1}', '{bad json', "[1,2]", '"text"', "{}",
                            '{"k":"\\u0000"}', '{"k":1,"k":2}', '{"o":{"n":[1.50,1e2]}}', '{"é":"😀"}',
                            '{"o":{"y":[{"b":1,"a":2}],"x":0},"a":null}', '{"o":{"k":1,"k":2}}'])


def _sometimes(draw, good, bad):
    """Mostly a good value, one time in five a hostile one: most transactions should post."""
    return draw(bad) if draw(st.integers(0, 4)) == 0 else draw(good)


@st.composite
def transactions(draw):
    debit = _sometimes(draw, GOOD_AMOUNTS, BAD_AMOUNTS)
    credit = debit if draw(st.integers(0, 4)) else _sometimes(draw, GOOD_AMOUNTS, BAD_AMOUNTS)
    accounts = [_sometimes(draw, st.just(good), BAD_ACCOUNTS) for good in GOOD_ACCOUNTS]
    return {"key": _sometimes(draw, KEYS, BAD_KEYS), "description": draw(TEXTS), "metadata": draw(METADATA),
            "legs": [(accounts[0], "debit", debit), (accounts[1], "credit", credit)]}


BATCHES = st.lists(transactions(), min_size=1, max_size=4, unique_by=lambda t: t["key"])


def _open_ledgers(store: Store, ledgers: dict[str, str], *, accounts: bool = True) -> None:
    """Each ledger of ``ledgers`` (name -> the id of its ``cash``), with (``accounts``) ``cash`` under that id,
    ``revenue`` and an account named after that id."""
    with store.transaction() as conn:
        for ledger, cash_id in ledgers.items():
            ensure_ledger(conn, ledger)
            if accounts:
                with mock.patch.object(accounts_module.uuid, "uuid4", return_value=uuid.UUID(cash_id)):
                    assert ensure_account(conn, ledger, AccountSpec("cash", "debit", "USD")) == cash_id
                ensure_account(conn, ledger, AccountSpec("revenue", "credit", "USD"))
                ensure_account(conn, ledger, AccountSpec(cash_id, "credit", "USD"))


def _rows(txs: list[dict], duplicate_group: bool, cash_id: str) -> list[list[str | None]]:
    groups = [*txs, txs[0]] if duplicate_group else txs
    return [[t["key"], cash_id if account == CASH_ID else account, direction, amount, t["description"],
             t["metadata"]] for t in groups for account, direction, amount in t["legs"]]


DECOY = [["decoy", "cash", "debit", "1", None, None], ["decoy", "revenue", "credit", "1", None, None]]


def _write_files(folder: Path, rows: list[list]) -> dict[str, Path]:
    """``rows`` in a CSV and a Parquet file whose names hold glob characters, beside decoy files the names
    match as patterns: ``{kind: path}``."""
    folder.mkdir(parents=True)
    for kind in ("csv", "parquet"):
        for name, content in ((f"g*[1].{kind}", rows), (f"g1.{kind}", DECOY), (f"g.{kind}", DECOY)):
            if kind == "csv":
                with open(folder / name, "w", newline="", encoding="utf-8") as handle:
                    csv.writer(handle).writerows([COLUMNS, *content])
            else:
                pq.write_table(pa.table({c: pa.array([r[i] for r in content], pa.string())
                                         for i, c in enumerate(COLUMNS)}), folder / name)
    return {kind: folder / f"g*[1].{kind}" for kind in ("csv", "parquet")}


def _post_singly(store: Store, ledger: str, rows: list[list]) -> None:
    with open_writer(store, actor="test", group_commit=False) as writer:
        for external_id, legs in itertools.groupby(rows, key=lambda r: r[0]):
            legs = list(legs)
            entries = [EntryInput(account, direction, amount) for _, account, direction, amount, _, _ in legs]
            tx = TransactionInput(entries, external_id=external_id, ledger=ledger, description=legs[0][4],
                                  metadata=legs[0][5])
            try:
                writer.post(tx, quarantine_on_reject=True)
            except RuleViolation:
                pass  # held in quarantine, compared below


def _post_and_replay(store: Store, ledger: str, cash_id: str, path: Path) -> None:
    """Post ``path`` while ``ledger`` has no account (every transaction is refused and kept), then create them
    and replay the ledger's items."""
    first = post_batch_file(store, path, default_ledger=ledger)
    assert first.created == 0 and first.quarantined == first.transactions_in, first
    _open_ledgers(store, {ledger: cash_id})
    with store.connect(read_only=True) as conn:
        ids = [qid for (qid,) in conn.all("SELECT id FROM quarantine WHERE ledger_name = :l", {"l": ledger})]
    assert len(ids) == first.quarantined
    replay_quarantine(store, ids=ids)


def _number(text: str) -> Decimal:
    return Decimal(text).normalize()


def _outcome(store: Store, ledger: str, cash_id: str) -> tuple[frozenset, frozenset]:
    """What ``ledger`` holds, (external_id, account, direction, amount, description, metadata) with ``cash``'s
    id as ``CASH_ID``, and its open quarantine items (external_id, reason code)."""
    with store.connect(read_only=True) as conn:
        posted = conn.all(
            "SELECT t.external_id, a.name, e.direction, e.amount, t.description, t.metadata "
            "FROM ledger_transactions t JOIN ledgers l ON l.id = t.ledger_id "
            "JOIN ledger_entries e ON e.ledger_transaction_id = t.id "
            "JOIN ledger_accounts a ON a.id = e.ledger_account_id WHERE l.name = :l", {"l": ledger})
        quarantined = conn.all("SELECT external_id, reason_code FROM quarantine "
                               "WHERE ledger_name = :l AND status = 'open'", {"l": ledger})
    # metadata by value: each engine keeps a JSON object in its own canonical text (PostgreSQL writes 1e2 as 100)
    return (frozenset((eid, CASH_ID if name == cash_id else name, d, int(a), desc,
                       json.dumps(json.loads(meta, parse_float=_number, parse_int=_number), sort_keys=True,
                                  default=str))
                      for eid, name, d, a, desc, meta in posted),
            frozenset(quarantined))


def test_every_input_path_and_engine_gives_the_same_result(tmp_path, request):
    # every example's ledger, created up front in one transaction per store (the replay path's without accounts)
    ledgers = {f"L{n}": str(uuid.uuid4()) for n in range(EXAMPLES)}
    with ExitStack() as stack:
        run = PathRun.open(stack, tmp_path, PATHS, INVARIANTS_EVERY)
        for (_, path), store in run.stores.items():
            _open_ledgers(store, ledgers, accounts=path != "replay")

        @examples(EXAMPLES)  # every example posts to eight stores
        @given(BATCHES)
        def check(txs):
            n = run.next_example()
            duplicate_group = n % DUPLICATE_EVERY == 0
            ledger = f"L{n}"
            cash_id = ledgers[ledger]
            rows = _rows(txs, duplicate_group, cash_id)
            files = _write_files(tmp_path / f"ex{n}", rows)
            outcomes = {}
            for (engine, path), store in run.stores.items():
                if path == "writer" and duplicate_group:
                    continue  # a duplicate group is a batch's own refusal; one write at a time has none
                if path == "writer":
                    _post_singly(store, ledger, rows)
                elif path == "replay":
                    _post_and_replay(store, ledger, cash_id, files["csv"])
                else:
                    post_batch_file(store, files[path], default_ledger=ledger)
                run.posts += 1
                outcomes[engine, path] = _outcome(store, ledger, cash_id)
            run.compare(n, outcomes, ("duckdb", "csv"))

        check()
        run.finish(request, EXAMPLES, POSTS)
