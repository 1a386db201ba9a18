"""Helpers that build reconciliation scenarios with a known answer (used by the tests and the benchmark)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time

import pyarrow as pa

from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.batch_input import normalise_entries
from ledger_pipeline.ledger.posting import post_batch
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.reconcile.accounts import (
    EXTERNAL,
    INTERNAL,
    ensure_external_account,
    ensure_internal_account,
    link_ledger_account,
)
from ledger_pipeline.reconcile.statements import BankStatement, StatementLine, load_statements

CASH = "cash_operating"
OTHER = "revenue"
IDENT = "021000021-123456789"


def setup_bank_account(store: Store, *, name: str = "operating", cash: str = CASH, ident: str = IDENT,
                       currency: str = "USD") -> None:
    with store.transaction() as conn:
        ensure_account(conn, "main", AccountSpec(cash, "debit", currency))
        ensure_account(conn, "main", AccountSpec(OTHER if currency == "USD" else f"{OTHER}_{currency.lower()}",
                                                 "credit", currency))
        ensure_internal_account(conn, name, ident, currency)
        link_ledger_account(conn, cash, INTERNAL, name)


def setup_external(store: Store, name: str, ledger_account: str, currency: str = "USD") -> None:
    with store.transaction() as conn:
        ensure_account(conn, "main", AccountSpec(ledger_account, "credit", currency))
        ensure_external_account(conn, name, currency)
        link_ledger_account(conn, ledger_account, EXTERNAL, name)


def post_cash(store: Store, txs: Sequence[tuple], *, cash: str = CASH, other: str = OTHER) -> None:
    """``txs``: (external_id, signed amount on cash, date, metadata dict or None[, status])."""
    rows = {c: [] for c in ("external_id", "account", "direction", "amount_minor", "effective_at", "metadata",
                            "status")}
    for tx in txs:
        ext, amount, day, meta = tx[:4]
        status = tx[4] if len(tx) > 4 else "posted"
        cash_dir, other_dir = ("debit", "credit") if amount > 0 else ("credit", "debit")
        for account, direction in ((cash, cash_dir), (other, other_dir)):
            rows["external_id"].append(ext)
            rows["account"].append(account)
            rows["direction"].append(direction)
            rows["amount_minor"].append(str(abs(amount)))
            rows["effective_at"].append(datetime.combine(day, time(12), UTC).isoformat())
            rows["metadata"].append(json.dumps(meta, sort_keys=True) if meta else None)
            rows["status"].append(status)
    table = pa.table({k: pa.array(v, pa.string()) for k, v in rows.items()})
    result = post_batch(store, normalise_entries(table, source_name="scenario"))
    assert result.quarantined == 0, result.as_dict()


def load_lines(store: Store, day: date, lines: Sequence[tuple], *, closing: int, opening: int | None = None,
               ident: str = IDENT, ref: str | None = None, currency: str = "USD") -> None:
    """``lines``: (date, signed amount, text[, customer_reference])."""
    stmt = BankStatement(
        account_identifier=ident, statement_date=day, closing_balance=closing, opening_balance=opening,
        currency=currency, statement_ref=ref,
        lines=tuple(StatementLine(date=d, amount=a, text=t, customer_reference=(rest[0] if rest else None))
                    for d, a, t, *rest in lines))
    with store.transaction() as conn:
        load_statements(conn, [stmt])


# --- A generated scenario with a known answer --------------------------------------------------------------

BASE = date(2025, 3, 1)


def _day(n: int) -> date:
    from datetime import timedelta

    return BASE + timedelta(days=n)


class Planted:
    """What the generator planted: expected match groups, expected exceptions, and the data itself."""

    def __init__(self) -> None:
        self.ledger: list[tuple] = []  # (external_id, amount, date, metadata, status)
        self.bank: list[tuple] = []  # (date, amount, text, customer_reference) ; text holds the tag "L<n>"
        self.groups: list[tuple[frozenset, frozenset, str]] = []  # (bank tags, ledger external ids, rule)
        self.unmatched: dict[tuple[str, str], str] = {}  # (side, bank tag | external id) -> reason
        self._n = 0

    def line(self, day: date, amount: int, text: str = "", ref: str | None = None) -> str:
        self._n += 1
        tag = f"L{self._n:05d}"
        self.bank.append((day, amount, f"{tag} {text}".strip(), ref))
        return tag

    def tx(self, ext: str, amount: int, day: date, meta: dict | None = None, status: str = "posted") -> str:
        self.ledger.append((ext, amount, day, meta, status))
        return ext


def generate(seed: int = 7, pairs: int = 120, window: int = 3) -> Planted:
    """Clean one-to-one pairs plus every kind of match and break, on distinct amounts so that the right
    answer is unique. Days 0-27 hold the pairs, 28-31 the group matches, breaks sit on days of their own."""
    import random

    rng = random.Random(seed)
    amounts = iter(rng.sample(range(1_001, 9_000_000), pairs * 4 + 400))
    p = Planted()

    def amount(sign: int | None = None) -> int:
        value = next(amounts)
        return value * (sign if sign is not None else rng.choice((1, 1, 1, -1)))

    for i in range(pairs):  # amount + date window, one to one
        a, ld = amount(), rng.randint(0, 24)
        bd = ld + rng.randint(0, window)
        ext = p.tx(f"erp:pay-{i:04d}", a, _day(ld))
        p.groups.append((frozenset({p.line(_day(bd), a, "ACH SETTLEMENT")}), frozenset({ext}), "amount_date"))
    # Same amount three times, each far from the others: nearest dates pair up.
    a = amount(1)
    for k, ld in enumerate((2, 10, 18)):
        ext = p.tx(f"erp:rent-{k}", a, _day(ld))
        p.groups.append((frozenset({p.line(_day(ld + 1), a, "RENT")}), frozenset({ext}), "amount_date"))
    # Stripe payouts: the payout equals the sum of the balance transactions carrying its id (one to many).
    for k in range(4):
        po = f"po_1Gen{seed}X{k}"
        items = [amount(1) for _ in range(rng.randint(3, 6))] + [-rng.randint(100, 999)]
        exts = [p.tx(f"stripe:txn_{k}_{j}", v, _day(3 + k + j % 3), {"payout_id": po}) for j, v in enumerate(items)]
        tag = p.line(_day(9 + k), sum(items), f"STRIPE TRANSFER ST-{po} {po}")
        p.groups.append((frozenset({tag}), frozenset(exts), "reference_one_to_many"))
    # A payout recorded as one ledger transaction (one to one by reference, 6 days apart: beyond the window).
    a = amount(1)
    ext = p.tx("stripe:po_1Single", a, _day(4))
    p.groups.append((frozenset({p.line(_day(10), a, "STRIPE po_1Single")}), frozenset({ext}), "reference"))
    # Adyen batches: net of the batch's items equals the MerchantPayout line.
    for k, batch in enumerate((1001, 1002)):
        items = [amount(1) for _ in range(3)] + [-rng.randint(100, 999)]
        exts = [p.tx(f"adyen:{batch}:{j}", v, _day(5 + k), {"batch_number": batch}) for j, v in enumerate(items)]
        tag = p.line(_day(8 + k), sum(items), f"ADYEN BV BATCH {batch} PAYOUT")
        p.groups.append((frozenset({tag}), frozenset(exts), "reference_one_to_many"))
    # Customer reference on the line equals the object id of the ledger transaction.
    a = amount(1)
    ext = p.tx("erp:INV-77", a, _day(12))
    p.groups.append((frozenset({p.line(_day(13), a, "INCOMING WIRE", "INV-77")}), frozenset({ext}), "reference"))
    # Several bank lines for one ledger transaction (no shared reference): the day's lines sum to it.
    a1, a2 = amount(1), amount(1)
    ext = p.tx("erp:split-1", a1 + a2, _day(28))
    tags = {p.line(_day(29), a1, "PART 1"), p.line(_day(29), a2, "PART 2")}
    p.groups.append((frozenset(tags), frozenset({ext}), "many_to_one"))
    # One bank line for a day's ledger items (no reference): one to many.
    items = [amount(1) for _ in range(3)]
    exts = [p.tx(f"erp:day-{j}", v, _day(30)) for j, v in enumerate(items)]
    p.groups.append((frozenset({p.line(_day(31), sum(items), "DEPOSIT")}), frozenset(exts), "one_to_many"))
    # A pending ledger transaction still matches (it is in the bank), but is not in the posted balance.
    a = amount(1)
    ext = p.tx("erp:pending-1", a, _day(20), None, "pending")
    p.groups.append((frozenset({p.line(_day(21), a, "PENDING")}), frozenset({ext}), "amount_date"))

    # --- breaks (each on a day of its own among 0-27, so day sums never combine them) ---
    p.unmatched[("bank", p.line(_day(1), -amount(1), "BANK FEE"))] = "no_counterpart"
    p.unmatched[("ledger", p.tx("erp:never-cleared", amount(1), _day(26)))] = "no_counterpart"
    a = amount(1)  # wrong amount in the bank
    p.unmatched[("ledger", p.tx("erp:short", a, _day(6)))] = "no_counterpart"
    p.unmatched[("bank", p.line(_day(7), a - 10, "SHORT"))] = "no_counterpart"
    a = amount(1)  # same amount, too far apart
    p.unmatched[("ledger", p.tx("erp:late", a, _day(11)))] = "amount_outside_window"
    p.unmatched[("bank", p.line(_day(11 + window + 4), a, "LATE"))] = "amount_outside_window"
    # A payout short by a fee that the ledger never recorded: the line and its items are a break, and the
    # line must not be matched by amount to the decoy of the same amount two days away.
    po = f"po_1Short{seed}"
    items = [amount(1) for _ in range(3)]
    exts = [p.tx(f"stripe:txn_s_{j}", v, _day(14), {"payout_id": po}) for j, v in enumerate(items)]
    tag = p.line(_day(16), sum(items) - 250, f"STRIPE TRANSFER {po}")
    p.unmatched[("bank", tag)] = "reference_amount_mismatch"
    for e in exts:
        p.unmatched[("ledger", e)] = "reference_amount_mismatch"
    p.unmatched[("ledger", p.tx("erp:decoy", sum(items) - 250, _day(15)))] = "no_counterpart"
    # An archived ledger transaction never matches.
    a = amount(1)
    p.tx("erp:archived", a, _day(22), None, "pending")
    p.unmatched[("bank", p.line(_day(23), a, "ARCHIVED"))] = "no_counterpart"
    return p


def load_planted(store: Store, p: Planted, *, statement_days: int = 32) -> dict[date, int]:
    """Post the ledger side, load one statement per day (closing = running sum of the lines), archive the
    planted archived transaction. Returns the expected variance per statement date."""
    from ledger_pipeline.ledger.posting import open_writer

    post_cash(store, p.ledger)
    with open_writer(store) as writer:
        writer.transition("erp:archived", "archived")
    running = 0
    with store.transaction() as conn:
        stmts = []
        for n in range(statement_days):
            day = _day(n)
            lines = [ln for ln in p.bank if ln[0] == day]
            opening = running
            running += sum(ln[1] for ln in lines)
            stmts.append(BankStatement(
                account_identifier=IDENT, statement_date=day, closing_balance=running, opening_balance=opening,
                currency="USD", statement_ref=f"S{n}",
                lines=tuple(StatementLine(date=d, amount=a, text=t, customer_reference=r) for d, a, t, r in lines)))
        load_statements(conn, stmts)
    expected = {}
    for n in range(statement_days):
        day = _day(n)
        bank = sum(a for d, a, *_ in p.bank if d <= day)
        ledger = sum(a for _, a, d, _, status in p.ledger if d <= day and status == "posted")
        expected[day] = bank - ledger
    return expected
