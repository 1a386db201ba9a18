"""Ledger account categories, as in Modern Treasury Ledgers: a category holds ledger accounts and other
categories, an account may sit in several, and a category's balance rolls up every account reachable
through the hierarchy.

* A category belongs to one ledger and holds only that ledger's accounts and categories.
* The hierarchy has no cycles: adding a category under one of its own descendants is refused.
* A category with a currency holds only accounts of that currency, directly or through its children; one
  without a currency may hold several, and its balance is then one row per currency.
* A balance counts each reachable account once, even when several paths lead to it (a diamond), and is
  signed by the category's normal balance. Available balances add each account's own available debits and
  credits (which depend on the account's normal balance), so a category's balance is the sum of its
  accounts' balances when they share its normal balance.
* Memberships are never deleted: removing one sets ``removed_at`` (the warehouse sync reads rows by
  ``change_seq``, so it sees removals). Balances use the memberships in force now, at any ``as_of``.

Every change writes an audit row (``object_type`` ``ledger_account_category``) in the same transaction.
``STANDARD_CATEGORIES`` is the shared chart of categories that the ingest mappings and the demo assign
their accounts to, so that reports select accounts by category, never by name.

This module makes the changes; the list, detail and roll-up balances are read in ``category_balances``,
and the lookups, hierarchy walks and lock both use are in ``category_lookup``. The readers are imported
here too, so ``ledger.categories`` stays the one name callers import from.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from ledger_pipeline.ledger.admin import merged_metadata
from ledger_pipeline.ledger.category_balances import category_balances, category_detail, list_categories
from ledger_pipeline.ledger.category_lookup import (
    ANCESTORS,
    DESCENDANTS,
    OBJECT_TYPE,
    audit,
    find_account,
    find_category,
    ledger_id_of,
    lock_hierarchy,
    utc_now,
)
from ledger_pipeline.ledger.errors import InputError, LedgerError
from ledger_pipeline.ledger.store import Connection

__all__ = [
    "OBJECT_TYPE", "STANDARD_CATEGORIES", "CategorySpec", "add_account", "add_child", "archive_category",
    "assign_categories", "categories_with_ancestors", "category_balances", "category_detail", "ensure_category",
    "find_category", "list_categories", "remove_account", "remove_child", "update_category",
]


@dataclass(frozen=True)
class CategorySpec:
    name: str
    normal_balance: str
    currency: str | None = None
    description: str | None = None
    metadata: Mapping[str, Any] | None = None
    parent: str | None = None  # only used by charts of categories (``STANDARD_CATEGORIES``, mapping YAML)


def _standard(name: str, normal: str, parent: str | None, description: str) -> CategorySpec:
    return CategorySpec(name=name, normal_balance=normal, parent=parent, description=description)


#: The chart of categories shared by the ingest mappings and the demo (parents before their children).
STANDARD_CATEGORIES: Mapping[str, CategorySpec] = {c.name: c for c in (
    _standard("assets", "debit", None, "What the business owns"),
    _standard("cash", "debit", "assets", "Money at banks and payment processors"),
    _standard("bank_accounts", "debit", "cash", "Ledger accounts that mirror a bank account"),
    _standard("processor_balances", "debit", "cash", "Funds held by a payment processor, not yet paid out"),
    _standard("receivables", "debit", "assets", "Money owed to the business: invoices, loans, fees due"),
    _standard("liabilities", "credit", None, "What the business owes"),
    _standard("customer_balances", "credit", "liabilities",
              "Money held for customers and sellers: wallets, card and financial account balances"),
    _standard("payables", "credit", "liabilities", "Bills and taxes owed"),
    _standard("equity", "credit", None, "The owners' stake"),
    _standard("revenue", "credit", None,
              "Income; contra-revenue accounts (refunds, disputes) sit here too, so the balance is net revenue"),
    _standard("expenses", "debit", None, "What the business spends"),
    _standard("fees", "debit", "expenses", "Fees paid to payment processors and banks"),
    _standard("clearing", "debit", None,
              "Accounts that net to zero once each flow completes: settlement with card networks, journal "
              "clearing"),
)}


def ensure_category(conn: Connection, ledger: str, spec: CategorySpec, actor: str = "system") -> str:
    """Return the id of category ``spec.name`` in ``ledger``, creating it if missing. One that exists with
    another normal balance or currency is refused (its balances would change meaning)."""
    if spec.normal_balance not in ("credit", "debit"):
        raise InputError(f"category {spec.name}: normal_balance must be credit or debit, not {spec.normal_balance!r}")
    if not spec.name.strip():
        raise InputError("a category needs a name")
    ledger_id = ledger_id_of(conn, ledger)
    currency = spec.currency.upper() if spec.currency else None
    existing = conn.dicts(
        "SELECT id, normal_balance, currency FROM ledger_account_categories WHERE ledger_id = :ledger_id "
        "AND name = :name", {"ledger_id": ledger_id, "name": spec.name})
    if existing:
        row = existing[0]
        if (row["normal_balance"], row["currency"]) != (spec.normal_balance, currency):
            raise LedgerError(
                f"category {spec.name} exists in ledger {ledger} as {row['normal_balance']}-normal "
                f"{row['currency'] or 'any currency'}; refusing to redefine it as {spec.normal_balance}-normal "
                f"{currency or 'any currency'}")
        return row["id"]
    category_id = str(uuid.uuid4())
    now, seq = utc_now(), conn.change_seq()
    conn.execute(
        "INSERT INTO ledger_account_categories (id, ledger_id, name, description, normal_balance, currency, "
        "metadata, archived_at, created_at, updated_at, change_seq) VALUES (:id, :ledger_id, :name, :description, "
        ":normal_balance, :currency, :metadata, NULL, :now, :now, :seq)",
        {"id": category_id, "ledger_id": ledger_id, "name": spec.name, "description": spec.description,
         "normal_balance": spec.normal_balance, "currency": currency,
         "metadata": json.dumps(dict(spec.metadata or {}), sort_keys=True), "now": now, "seq": seq})
    audit(conn, "create", category_id, {"ledger": ledger, "name": spec.name, "normal_balance": spec.normal_balance,
                                        "currency": currency}, actor, seq, now)
    return category_id


def update_category(conn: Connection, ledger: str, category: str, *, description: str | None = None,
                    metadata: Mapping[str, str] | None = None, actor: str = "system") -> str:
    """Set a category's description and/or merge ``metadata`` keys into its metadata (an empty value removes
    the key). Its normal balance and currency never change. Returns the category id."""
    row = find_category(conn, ledger, category)
    merged = merged_metadata(row["metadata"], metadata)
    now, seq = utc_now(), conn.change_seq()
    conn.execute(
        "UPDATE ledger_account_categories SET description = COALESCE(:description, description), "
        "metadata = :metadata, updated_at = :now, change_seq = :seq WHERE id = :id",
        {"description": description, "metadata": json.dumps(merged, sort_keys=True), "now": now, "seq": seq,
         "id": row["id"]})
    audit(conn, "update", row["id"], {"description": description, "metadata": dict(metadata or {})}, actor, seq, now)
    return row["id"]


def archive_category(conn: Connection, ledger: str, category: str, actor: str = "system") -> str:
    """Archive a category: it keeps its memberships and balances but takes no new members."""
    row = find_category(conn, ledger, category)
    if row["archived_at"] is None:
        now, seq = utc_now(), conn.change_seq()
        conn.execute("UPDATE ledger_account_categories SET archived_at = :now, updated_at = :now, change_seq = :seq "
                     "WHERE id = :id", {"now": now, "seq": seq, "id": row["id"]})
        audit(conn, "archive", row["id"], {"ledger": ledger, "name": row["name"]}, actor, seq, now)
    return row["id"]


def _open_category(conn: Connection, ledger: str, category: str) -> dict[str, Any]:
    row = find_category(conn, ledger, category)
    if row["archived_at"] is not None:
        raise LedgerError(f"category {row['name']} is archived: it takes no new accounts or categories")
    return row


def _currency_conflicts(conn: Connection, upper: str, accounts_sql: str, params: Mapping[str, Any]) -> list[str]:
    """Categories at or above ``upper`` whose currency differs from that of an account ``accounts_sql``
    selects (its column ``currency``), each as one line of an error message."""
    rows = conn.all(
        ANCESTORS + "SELECT DISTINCT c.name, c.currency, a.currency FROM up JOIN ledger_account_categories c "
        f"ON c.id = up.category_id CROSS JOIN ({accounts_sql}) a WHERE c.currency IS NOT NULL "
        "AND c.currency <> a.currency ORDER BY 1, 3", {"start": upper, **params})
    return [f"category {name} is {cur}, an account is {account_cur}" for name, cur, account_cur in rows]


def _membership(conn: Connection, table: str, keys: Mapping[str, str]) -> dict[str, Any] | None:
    where = " AND ".join(f"{k} = :{k}" for k in keys)
    rows = conn.dicts(f"SELECT removed_at FROM {table} WHERE {where}", keys)
    return rows[0] if rows else None


def _add_membership(conn: Connection, table: str, keys: Mapping[str, str]) -> tuple[bool, int, datetime]:
    """Insert or revive a membership; returns (changed, seq, now)."""
    existing = _membership(conn, table, keys)
    if existing is not None and existing["removed_at"] is None:
        return False, 0, utc_now()
    now, seq = utc_now(), conn.change_seq()
    if existing is None:
        columns = ", ".join(keys)
        values = ", ".join(f":{k}" for k in keys)
        conn.execute(f"INSERT INTO {table} ({columns}, removed_at, created_at, updated_at, change_seq) "
                     f"VALUES ({values}, NULL, :now, :now, :seq)", {**keys, "now": now, "seq": seq})
    else:
        where = " AND ".join(f"{k} = :{k}" for k in keys)
        conn.execute(f"UPDATE {table} SET removed_at = NULL, updated_at = :now, change_seq = :seq WHERE {where}",
                     {**keys, "now": now, "seq": seq})
    return True, seq, now


def _remove_membership(conn: Connection, table: str, keys: Mapping[str, str]) -> tuple[bool, int, datetime]:
    existing = _membership(conn, table, keys)
    if existing is None or existing["removed_at"] is not None:
        return False, 0, utc_now()
    now, seq = utc_now(), conn.change_seq()
    where = " AND ".join(f"{k} = :{k}" for k in keys)
    conn.execute(f"UPDATE {table} SET removed_at = :now, updated_at = :now, change_seq = :seq WHERE {where}",
                 {**keys, "now": now, "seq": seq})
    return True, seq, now


def _audited_membership(conn: Connection, add: bool, table: str, keys: Mapping[str, str], action: str,
                        category_id: str, detail: Mapping[str, Any], actor: str) -> bool:
    """Add or remove a membership and audit it when it changed; False when there was nothing to change."""
    changed, seq, now = (_add_membership if add else _remove_membership)(conn, table, keys)
    if changed:
        audit(conn, f"{'add' if add else 'remove'}_{action}", category_id, detail, actor, seq, now)
    return changed


def _account_membership(conn: Connection, add: bool, cat: dict[str, Any], acc: dict[str, Any], actor: str) -> bool:
    return _audited_membership(conn, add, "ledger_account_category_accounts",
                               {"category_id": cat["id"], "ledger_account_id": acc["id"]}, "account", cat["id"],
                               {"ledger_account_id": acc["id"], "account": acc["name"]}, actor)


def _child_membership(conn: Connection, add: bool, up: dict[str, Any], down: dict[str, Any], actor: str) -> bool:
    return _audited_membership(conn, add, "ledger_account_category_children",
                               {"parent_category_id": up["id"], "child_category_id": down["id"]}, "child", up["id"],
                               {"child_category_id": down["id"], "child": down["name"]}, actor)


def add_account(conn: Connection, ledger: str, category: str, account: str, actor: str = "system") -> bool:
    """Put account ``account`` (name or id) in ``category``; False when it is there already. Refused when
    the account is of another ledger, or of another currency than the category or any category above it."""
    cat = _open_category(conn, ledger, category)
    acc = find_account(conn, ledger, account)
    lock_hierarchy(conn, cat["ledger_id"])
    conflicts = _currency_conflicts(conn, cat["id"], "SELECT CAST(:account_currency AS TEXT) AS currency",
                                    {"account_currency": acc["currency"]})
    if conflicts:
        raise LedgerError(f"account {acc['name']} ({acc['currency']}) cannot join category {cat['name']}: "
                          f"{conflicts[0]}; a category with a currency holds only accounts of that currency")
    return _account_membership(conn, True, cat, acc, actor)


def remove_account(conn: Connection, ledger: str, category: str, account: str, actor: str = "system") -> bool:
    """Take account ``account`` out of ``category`` (the membership is kept with ``removed_at``); False when
    it was not in it."""
    return _account_membership(conn, False, find_category(conn, ledger, category),
                               find_account(conn, ledger, account), actor)


def add_child(conn: Connection, ledger: str, parent: str, child: str, actor: str = "system") -> bool:
    """Nest category ``child`` in ``parent``; False when it is nested there already. Refused when it would
    close a cycle (``parent`` is ``child`` or below it), crosses ledgers, or brings accounts of another
    currency under a category with a currency."""
    up = _open_category(conn, ledger, parent)
    down = find_category(conn, ledger, child)
    lock_hierarchy(conn, up["ledger_id"])
    if conn.scalar(DESCENDANTS + "SELECT count(*) FROM down WHERE category_id = :parent",
                   {"start": down["id"], "parent": up["id"]}):
        raise LedgerError(f"category {down['name']} cannot go under {up['name']}: {up['name']} is "
                          f"{'the same category' if up['id'] == down['id'] else 'already below it'} "
                          "(the hierarchy would have a cycle)")
    conflicts = _currency_conflicts_below(conn, up["id"], down)
    if conflicts:
        raise LedgerError(f"category {down['name']} cannot go under {up['name']}: {conflicts[0]}; a category "
                          "with a currency holds only accounts of that currency")
    return _child_membership(conn, True, up, down, actor)


def _currency_conflicts_below(conn: Connection, upper: str, child: dict[str, Any]) -> list[str]:
    """Currency conflicts between the categories at or above ``upper`` and the child category: its own
    currency, and that of every account at or below it."""
    rows = conn.all(
        ANCESTORS + ", down(category_id) AS (SELECT CAST(:child AS UUID) UNION "
        "SELECT h.child_category_id FROM ledger_account_category_children h JOIN down "
        "ON h.parent_category_id = down.category_id WHERE h.removed_at IS NULL), "
        "below(currency) AS (SELECT a.currency FROM down JOIN ledger_account_category_accounts m "
        "ON m.category_id = down.category_id AND m.removed_at IS NULL JOIN ledger_accounts a "
        "ON a.id = m.ledger_account_id UNION SELECT c.currency FROM down JOIN ledger_account_categories c "
        "ON c.id = down.category_id WHERE c.currency IS NOT NULL) "
        "SELECT DISTINCT c.name, c.currency, b.currency FROM up JOIN ledger_account_categories c "
        "ON c.id = up.category_id CROSS JOIN below b WHERE c.currency IS NOT NULL AND c.currency <> b.currency "
        "ORDER BY 1, 3", {"start": upper, "child": child["id"]})
    return [f"category {name} is {cur}, {child['name']} holds {below}" for name, cur, below in rows]


def remove_child(conn: Connection, ledger: str, parent: str, child: str, actor: str = "system") -> bool:
    """Take category ``child`` out of ``parent``; False when it was not nested there."""
    return _child_membership(conn, False, find_category(conn, ledger, parent), find_category(conn, ledger, child),
                             actor)


# -- charts of categories (ingest mappings, the demo) ----------------------------------------------------

_PAIRS = "category_pairs"  # the (category, account) names being assigned, as a relation

# The pairs whose category or a category above it has a currency other than the account's, or is archived.
_PAIR_CONFLICTS = f"""
WITH RECURSIVE up(start_id, category_id) AS (
    SELECT c.id, c.id FROM ledger_account_categories c
    WHERE c.ledger_id = :ledger_id AND c.name IN (SELECT category FROM {_PAIRS})
    UNION
    SELECT up.start_id, h.parent_category_id FROM up JOIN ledger_account_category_children h
    ON h.child_category_id = up.category_id WHERE h.removed_at IS NULL
)
SELECT p.category, p.account, a.currency, above.name, above.currency, c.archived_at IS NOT NULL AS archived
FROM {_PAIRS} p
JOIN ledger_account_categories c ON c.ledger_id = :ledger_id AND c.name = p.category
JOIN ledger_accounts a ON a.ledger_id = :ledger_id AND a.name = p.account
JOIN up ON up.start_id = c.id JOIN ledger_account_categories above ON above.id = up.category_id
WHERE c.archived_at IS NOT NULL OR (above.currency IS NOT NULL AND above.currency <> a.currency)
ORDER BY 1, 2 LIMIT 1
"""

_NEW_PAIRS = f"""
SELECT c.id AS category_id, c.name AS category, a.id AS ledger_account_id, a.name AS account
FROM {_PAIRS} p
JOIN ledger_account_categories c ON c.ledger_id = :ledger_id AND c.name = p.category
JOIN ledger_accounts a ON a.ledger_id = :ledger_id AND a.name = p.account
WHERE NOT EXISTS (SELECT 1 FROM ledger_account_category_accounts m
                  WHERE m.category_id = c.id AND m.ledger_account_id = a.id)
"""


def assign_categories(conn: Connection, ledger: str, memberships: Iterable[tuple[str, str]],
                      chart: Mapping[str, CategorySpec] = STANDARD_CATEGORIES, actor: str = "system") -> int:
    """Put each ``(category name, account name)`` pair's account in its category, creating the category and
    the categories above it from ``chart`` when missing. Only pairs that have no membership row at all are
    added: a membership an operator removed stays removed, and a second run adds nothing. Set-based: one
    query finds the new pairs, one checks them (currencies, archived categories) and one inserts them,
    whatever their number; one audit row per category that gains accounts. Returns the number added."""
    pairs = sorted(set(memberships))
    if not pairs:
        return 0
    ledger_id = ledger_id_of(conn, ledger)
    data = pa.table({"category": [c for c, _ in pairs], "account": [a for _, a in pairs]})
    with conn.arrow_relation(_PAIRS, data, "category TEXT, account TEXT"):
        new = conn.dicts(_NEW_PAIRS, {"ledger_id": ledger_id})
        known = {r[0] for r in conn.all(
            f"SELECT DISTINCT p.category FROM {_PAIRS} p JOIN ledger_account_categories c "
            "ON c.ledger_id = :ledger_id AND c.name = p.category", {"ledger_id": ledger_id})}
        if not new and known == {c for c, _ in pairs}:
            return 0
        for name in categories_with_ancestors({c for c, _ in pairs} - known, chart):
            spec = chart[name]
            existed = conn.scalar("SELECT id FROM ledger_account_categories WHERE ledger_id = :ledger_id AND "
                                  "name = :name", {"ledger_id": ledger_id, "name": name})
            ensure_category(conn, ledger, spec, actor=actor)
            if spec.parent and not existed:
                add_child(conn, ledger, spec.parent, name, actor=actor)
        lock_hierarchy(conn, ledger_id)
        conflict = conn.one(_PAIR_CONFLICTS, {"ledger_id": ledger_id})
        if conflict is not None:
            category, account, currency, above, above_currency, archived = conflict
            raise LedgerError(
                f"account {account} cannot join category {category}: "
                + ("the category is archived" if archived else
                   f"category {above} is {above_currency}, the account is {currency}; a category with a "
                   "currency holds only accounts of that currency"))
        new = conn.dicts(_NEW_PAIRS, {"ledger_id": ledger_id})
        if not new:
            return 0
        now, seq = utc_now(), conn.change_seq()
        conn.execute(
            "INSERT INTO ledger_account_category_accounts (category_id, ledger_account_id, removed_at, created_at, "
            f"updated_at, change_seq) SELECT category_id, ledger_account_id, NULL, :now, :now, :seq FROM ({_NEW_PAIRS}) n",
            {"ledger_id": ledger_id, "now": now, "seq": seq})
    added: dict[str, list[str]] = {}
    for row in new:
        added.setdefault(row["category_id"], []).append(row["account"])
    for category_id, accounts in sorted(added.items()):
        audit(conn, "add_accounts", category_id, {"accounts": sorted(accounts)}, actor, seq, now)
    return len(new)


def categories_with_ancestors(names: Iterable[str], chart: Mapping[str, CategorySpec]) -> list[str]:
    """``names`` and the categories above them in ``chart``, parents first."""
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name not in chart:
            raise InputError(f"category {name!r} is not in the chart of categories ({', '.join(sorted(chart))})")
        if name in path:
            raise InputError(f"the chart of categories has a cycle: {' > '.join((*path, name))}")
        parent = chart[name].parent
        if parent:
            visit(parent, (*path, name))
        if name not in ordered:
            ordered.append(name)

    for name in sorted(names):
        visit(name, ())
    return ordered
