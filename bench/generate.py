"""Deterministic batches of balanced transactions, for benchmarks and large tests.

``generate_batch(n)`` returns an Arrow table of entries in the staged shape (``amount_minor`` integers):
about 2.25 entries per transaction (3 in one of four), 3 currencies, 48 accounts (16 per currency),
effective times spread over a year. The same seed always gives the same rows. ``write_ledger_journal``
writes the same transactions as a ledger-cli journal, for the side-by-side run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CURRENCIES = ("USD", "EUR", "GBP")
ACCOUNTS_PER_CURRENCY = 16
START = np.datetime64("2025-01-01T00:00:00", "s")


@dataclass(frozen=True)
class BenchAccount:
    name: str
    currency: str
    normal_balance: str


def bench_accounts() -> list[BenchAccount]:
    """16 accounts per currency; even ones debit-normal (assets), odd ones credit-normal (liabilities)."""
    return [
        BenchAccount(f"{currency.lower()}_{i:02d}", currency, "debit" if i % 2 == 0 else "credit")
        for currency in CURRENCIES
        for i in range(ACCOUNTS_PER_CURRENCY)
    ]


def generate_batch(n: int, seed: int = 42, prefix: str = "tx") -> pa.Table:
    """``n`` balanced transactions as entry rows (columns: external_id, account, direction, amount_minor,
    currency, effective_at)."""
    rng = np.random.default_rng(seed)
    three = rng.random(n) < 0.25
    currency_idx = rng.integers(0, len(CURRENCIES), n)
    # Three distinct accounts of the transaction's currency.
    first = rng.integers(0, ACCOUNTS_PER_CURRENCY, n)
    second = (first + rng.integers(1, ACCOUNTS_PER_CURRENCY, n)) % ACCOUNTS_PER_CURRENCY
    third = (second + 1) % ACCOUNTS_PER_CURRENCY
    third = np.where(third == first, (third + 1) % ACCOUNTS_PER_CURRENCY, third)
    x = rng.integers(1, 1_000_000, n)
    y = rng.integers(1, 100_000, n)
    seconds = rng.integers(0, 365 * 86400, n)
    effective = START + seconds.astype("timedelta64[s]")

    tx_index = np.arange(n)
    # Entry 1: debit first for x (+y when three entries); entry 2: credit second for x; entry 3: credit third y.
    idx = np.concatenate([tx_index, tx_index, tx_index[three]])
    acct = np.concatenate([first, second, third[three]])
    direction = np.concatenate([np.zeros(n, bool), np.ones(n, bool), np.ones(int(three.sum()), bool)])
    amount = np.concatenate([x + np.where(three, y, 0), x, y[three]])
    order = np.argsort(idx, kind="stable")
    idx, acct, direction, amount = idx[order], acct[order], direction[order], amount[order]

    currency_names = np.array(CURRENCIES)[currency_idx[idx]]
    account_names = pc.binary_join_element_wise(
        pa.array(np.char.lower(currency_names.astype(str))),
        pa.array(np.char.zfill(acct.astype(str), 2)),
        "_",
    )
    external_ids = pc.binary_join_element_wise(
        pa.scalar(prefix), pa.array(np.char.zfill(idx.astype(str), 8)), "-"
    )
    return pa.table({
        "external_id": external_ids,
        "account": account_names,
        "direction": pa.array(np.where(direction, "credit", "debit")),
        "amount_minor": pa.array(amount, pa.int64()),
        "currency": pa.array(currency_names),
        "effective_at": pa.array(effective[idx].astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
    })


def write_parquet(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=500_000)
    return path


def write_ledger_journal(table: pa.Table, path: Path) -> Path:
    """The same transactions as a ledger-cli journal (amounts in major units, exact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    external = table.column("external_id").to_numpy(zero_copy_only=False)
    accounts = table.column("account").to_numpy(zero_copy_only=False)
    directions = table.column("direction").to_numpy(zero_copy_only=False)
    amounts = table.column("amount_minor").to_numpy()
    currencies = table.column("currency").to_numpy(zero_copy_only=False)
    dates = table.column("effective_at").to_numpy().astype("datetime64[D]").astype(str)
    signed = np.where(directions == "debit", amounts, -amounts)
    text_amounts = [f"{'-' if v < 0 else ''}{abs(v) // 100}.{abs(v) % 100:02d}" for v in signed.tolist()]
    lines = []
    previous = None
    for i in range(len(external)):
        if external[i] != previous:
            if previous is not None:
                lines.append("")
            lines.append(f"{dates[i]} * {external[i]}")
            previous = external[i]
        lines.append(f"    Accounts:{accounts[i]}  {currencies[i]} {text_amounts[i]}")
    lines.append("")
    path.write_text("\n".join(lines))
    return path
