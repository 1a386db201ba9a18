"""The read queries the API needs beyond the core's: pages of ledgers, accounts with their balances (now or
as of an effective time), transactions with their entries, and entries, filtered and paged by cursor.

Every page is ordered by id and starts after ``after`` (the previous page's last id); a page reads one row
more than it returns, to tell whether another page follows. Filters are bound parameters; a metadata key is
bound too (a JSON path on DuckDB, a ``->>`` key on PostgreSQL).

The ids of these objects are UUIDs: an id given here (a filter, a cursor) must be a UUID's text, which the
routes check (``is_uuid_text``), since comparing other text with a UUID column is an error on both engines;
a lookup of one object by an id that is no UUID finds nothing (None) without asking the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger_pipeline.ledger.balances import SUMS_FROM_ENTRIES
from ledger_pipeline.ledger.ids import is_uuid_text
from ledger_pipeline.ledger.store import Connection, params_list


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    after_cursor: str | None  # the id to pass as ``after`` for the next page; None on the last page


@dataclass
class Filters:
    """Filters of the transaction and entry lists; ``effective`` maps an operator (gt, gte, lt, lte) to a
    time, ``metadata`` a key to the value it must hold."""

    ledger_id: str | None = None
    ledger_account_id: str | None = None
    status: str | None = None
    external_id: str | None = None
    effective: Mapping[str, datetime] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)


_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _page(conn: Connection, select: str, where: list[str], params: dict[str, Any], *, alias: str,
          after: str | None, per_page: int) -> Page:
    """One page of ``select`` (whose rows are aliased ``alias``) under the conditions ``where``."""
    conditions = [*where, f"(CAST(:after AS UUID) IS NULL OR {alias}.id > CAST(:after AS UUID))"]
    sql = f"{select} WHERE {' AND '.join(conditions)} ORDER BY {alias}.id LIMIT {int(per_page) + 1}"
    rows = conn.dicts(sql, {**params, "after": after})
    if len(rows) > per_page:
        return Page(rows[:per_page], rows[per_page - 1]["id"])
    return Page(rows, None)


def _where(conn: Connection, alias: str, filters: Filters, params: dict[str, Any]) -> list[str]:
    """Conditions on the rows aliased ``alias`` (and the bound values they use, into ``params``)."""
    where: list[str] = []
    if filters.ledger_id is not None:
        where.append(f"{alias}.ledger_id = :ledger_id")
        params["ledger_id"] = filters.ledger_id
    if filters.status is not None:
        where.append(f"{alias}.status = :status")
        params["status"] = filters.status
    if filters.external_id is not None:
        where.append(f"{alias}.external_id = :external_id")
        params["external_id"] = filters.external_id
    for op, value in filters.effective.items():
        where.append(f"{alias}.effective_at {_OPERATORS[op]} CAST(:eff_{op} AS TIMESTAMPTZ)")
        params[f"eff_{op}"] = value
    for i, (key, value) in enumerate(sorted(filters.metadata.items())):
        where.append(f"{conn.engine.json_text_at(f'{alias}.metadata', f'mk{i}')} = :mv{i}")
        params[f"mk{i}"] = conn.engine.json_key(key)
        params[f"mv{i}"] = value
    return where


# -- ledgers -----------------------------------------------------------------------------------------------

_LEDGER = "SELECT g.id, g.name, g.description, g.metadata, g.created_at, g.updated_at FROM ledgers g"


def list_ledgers(conn: Connection, *, after: str | None, per_page: int) -> Page:
    return _page(conn, _LEDGER, [], {}, alias="g", after=after, per_page=per_page)


def get_ledger(conn: Connection, ledger_id: str) -> dict[str, Any] | None:
    if not is_uuid_text(ledger_id):
        return None
    rows = conn.dicts(f"{_LEDGER} WHERE g.id = :id", {"id": ledger_id})
    return rows[0] if rows else None


def ledger_name(conn: Connection, ledger_id: str) -> str | None:
    if not is_uuid_text(ledger_id):
        return None
    return conn.scalar("SELECT name FROM ledgers WHERE id = :id", {"id": ledger_id})


# -- accounts ----------------------------------------------------------------------------------------------

_ACCOUNT_SUMS_NOW = "SELECT ledger_account_id, posted_debits, posted_credits, pending_debits, pending_credits " \
                    "FROM ledger_account_balances"
_ACCOUNT_SUMS_AS_OF = SUMS_FROM_ENTRIES.format(where="effective_at <= CAST(:as_of AS TIMESTAMPTZ)")

_ACCOUNTS = """
SELECT a.id, a.ledger_id, a.name, a.description, a.normal_balance, a.currency, a.currency_exponent, a.metadata,
    a.ledgerable_type, a.ledgerable_id, a.min_available_balance, a.max_available_balance, a.archived_at,
    a.created_at, a.updated_at,
    COALESCE(s.posted_debits, 0) AS posted_debits, COALESCE(s.posted_credits, 0) AS posted_credits,
    COALESCE(s.pending_debits, 0) AS pending_debits, COALESCE(s.pending_credits, 0) AS pending_credits
FROM ledger_accounts a LEFT JOIN ({sums}) s ON s.ledger_account_id = a.id
"""


def _accounts_sql(as_of: datetime | None, params: dict[str, Any]) -> str:
    if as_of is None:
        return _ACCOUNTS.format(sums=_ACCOUNT_SUMS_NOW)
    params["as_of"] = as_of
    return _ACCOUNTS.format(sums=_ACCOUNT_SUMS_AS_OF)


def list_accounts(conn: Connection, *, ledger_id: str | None, after: str | None, per_page: int,
                  as_of: datetime | None = None, metadata: Mapping[str, str] | None = None) -> Page:
    """Accounts with the four balance sums (exact integers), now or as of an effective time."""
    params: dict[str, Any] = {}
    sql = _accounts_sql(as_of, params)
    where = _where(conn, "a", Filters(ledger_id=ledger_id, metadata=metadata or {}), params)
    return _page(conn, sql, where, params, alias="a", after=after, per_page=per_page)


def account_query(account_id: str, as_of: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """The statement and parameters of one account with its balance sums (``get_account``), for a caller
    that runs it on a connection of its own (the API's reads on the event loop); ``account_id`` must be a
    UUID's text (``is_uuid_text``)."""
    params: dict[str, Any] = {"id": account_id}
    return f"{_accounts_sql(as_of, params)} WHERE a.id = :id", params


def get_account(conn: Connection, account_id: str, *, as_of: datetime | None = None) -> dict[str, Any] | None:
    if not is_uuid_text(account_id):
        return None
    rows = conn.dicts(*account_query(account_id, as_of))
    return rows[0] if rows else None


# -- transactions and entries ------------------------------------------------------------------------------

_TRANSACTIONS = ("SELECT t.id, t.ledger_id, t.external_id, t.status, t.description, t.effective_at, t.posted_at, "
                 "t.archived_at, t.created_at, t.updated_at, t.source, t.ledgerable_type, t.ledgerable_id, "
                 "t.reverses_id, t.metadata FROM ledger_transactions t")

_ENTRIES = ("SELECT e.id, e.ledger_transaction_id, e.ledger_account_id, e.direction, e.amount, e.currency, "
            "a.currency_exponent, e.status, e.effective_at, e.created_at FROM ledger_entries e "
            "JOIN ledger_accounts a ON a.id = e.ledger_account_id")


def _with_entries(conn: Connection, txs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attach each transaction's ``entries`` (one query for the whole page)."""
    if not txs:
        return txs
    placeholders, params = params_list("tx", [t["id"] for t in txs])
    by_tx: dict[str, list[dict[str, Any]]] = {}
    for entry in conn.dicts(f"{_ENTRIES} WHERE e.ledger_transaction_id IN ({placeholders}) ORDER BY e.id", params):
        by_tx.setdefault(entry["ledger_transaction_id"], []).append(entry)
    for tx in txs:
        tx["entries"] = by_tx.get(tx["id"], [])
    return txs


_ENTRY_COLUMNS = ("id", "ledger_transaction_id", "ledger_account_id", "direction", "amount", "currency",
                  "currency_exponent", "status", "effective_at", "created_at")

# one row per entry (one with NULL entry columns for a transaction without entries): one round trip, which a
# create, an update and a reversal each make to answer with the transaction they wrote
_TRANSACTION_WITH_ENTRIES = (
    _TRANSACTIONS.removesuffix(" FROM ledger_transactions t")
    + ", " + ", ".join(f"{'a' if name == 'currency_exponent' else 'e'}.{name} AS entry_{name}"
                       for name in _ENTRY_COLUMNS)
    + " FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.ledger_transaction_id = t.id"
    + " LEFT JOIN ledger_accounts a ON a.id = e.ledger_account_id WHERE t.id = :id ORDER BY e.id")


def get_transaction(conn: Connection, transaction_id: str) -> dict[str, Any] | None:
    if not is_uuid_text(transaction_id):
        return None
    rows = conn.dicts(_TRANSACTION_WITH_ENTRIES, {"id": transaction_id})
    if not rows:
        return None
    tx = {name: value for name, value in rows[0].items() if not name.startswith("entry_")}
    tx["entries"] = [{name: row[f"entry_{name}"] for name in _ENTRY_COLUMNS} for row in rows
                     if row["entry_id"] is not None]
    return tx


def list_transactions(conn: Connection, filters: Filters, *, after: str | None, per_page: int) -> Page:
    params: dict[str, Any] = {}
    where = _where(conn, "t", filters, params)
    if filters.ledger_account_id is not None:
        where.append("EXISTS (SELECT 1 FROM ledger_entries f WHERE f.ledger_transaction_id = t.id "
                     "AND f.ledger_account_id = :account)")
        params["account"] = filters.ledger_account_id
    page = _page(conn, _TRANSACTIONS, where, params, alias="t", after=after, per_page=per_page)
    return Page(_with_entries(conn, page.rows), page.after_cursor)


def list_entries(conn: Connection, filters: Filters, *, after: str | None, per_page: int) -> Page:
    """Entries; the status, effective time and account filters apply to the entry, the metadata, ledger and
    external_id filters to its transaction."""
    params: dict[str, Any] = {}
    tx_filters = Filters(ledger_id=filters.ledger_id, external_id=filters.external_id, metadata=filters.metadata)
    where = _where(conn, "t", tx_filters, params)
    where += _where(conn, "e", Filters(status=filters.status, effective=filters.effective), params)
    if filters.ledger_account_id is not None:
        where.append("e.ledger_account_id = :account")
        params["account"] = filters.ledger_account_id
    select = f"{_ENTRIES} JOIN ledger_transactions t ON t.id = e.ledger_transaction_id"
    return _page(conn, select, where, params, alias="e", after=after, per_page=per_page)
