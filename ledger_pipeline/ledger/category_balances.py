"""Reading categories: the list, one category's detail, and balances that roll up every account a category
reaches through the hierarchy (each account once, however many paths lead to it), now or as of an effective
time. The rules these follow are in ``ledger.categories``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ledger_pipeline.ledger.balances import SUMS_FROM_ENTRIES, with_amounts
from ledger_pipeline.ledger.category_lookup import DESCENDANTS, find_category
from ledger_pipeline.ledger.ids import uuid_or_null
from ledger_pipeline.ledger.money import currency_exponent
from ledger_pipeline.ledger.store import Connection, params_list

_BALANCE_KINDS = ("posted_debits", "posted_credits", "pending_debits", "pending_credits", "available_debits",
                  "available_credits")

# Each category of the filter (``roots``), every category at or below it (``closure``, memberships in force;
# UNION, not UNION ALL, so a cycle could not loop and a diamond is walked once), the distinct accounts these
# hold (``members``: an account reachable twice counts once), and their sums unpivoted one row per kind so
# that the engine sums each exactly whatever its size (``StoreEngine.exact_sums``).
_CATEGORY_BALANCES = """
WITH RECURSIVE roots AS (
    SELECT c.id, c.name, c.normal_balance, c.currency, l.name AS ledger
    FROM ledger_account_categories c JOIN ledgers l ON l.id = c.ledger_id
    WHERE (CAST(:ledger AS TEXT) IS NULL OR l.name = :ledger)
      AND (CAST(:category AS TEXT) IS NULL OR c.id = {category_id} OR c.name = :category){ids}
),
closure(root_id, category_id) AS (
    SELECT id, id FROM roots
    UNION
    SELECT closure.root_id, h.child_category_id
    FROM closure JOIN ledger_account_category_children h ON h.parent_category_id = closure.category_id
    WHERE h.removed_at IS NULL
),
members AS (
    SELECT DISTINCT closure.root_id, m.ledger_account_id
    FROM closure JOIN ledger_account_category_accounts m ON m.category_id = closure.category_id
    WHERE m.removed_at IS NULL
),
per_account AS (
    SELECT members.root_id, a.id AS ledger_account_id, a.currency, a.currency_exponent, a.normal_balance,
        COALESCE(s.posted_debits, 0) AS posted_debits, COALESCE(s.posted_credits, 0) AS posted_credits,
        COALESCE(s.pending_debits, 0) AS pending_debits, COALESCE(s.pending_credits, 0) AS pending_credits
    FROM members JOIN ledger_accounts a ON a.id = members.ledger_account_id
    LEFT JOIN ({sums}) s ON s.ledger_account_id = a.id
),
unpivoted AS (
    {unpivoted}
)
SELECT r.ledger, r.id AS category_id, r.name AS category, r.normal_balance,
    COALESCE(u.currency, r.currency) AS currency, u.currency_exponent,
    count(DISTINCT u.ledger_account_id) AS accounts, {sums_select}
FROM roots r LEFT JOIN unpivoted u ON u.root_id = r.id
GROUP BY r.ledger, r.id, r.name, r.normal_balance, COALESCE(u.currency, r.currency), u.currency_exponent
ORDER BY r.ledger, r.name, 5
"""

# An account's available debits and credits depend on its own normal balance (see ``balances``).
_KIND_SQL = {
    "posted_debits": "posted_debits", "posted_credits": "posted_credits",
    "pending_debits": "pending_debits", "pending_credits": "pending_credits",
    "available_debits": "CASE WHEN normal_balance = 'credit' THEN pending_debits ELSE posted_debits END",
    "available_credits": "CASE WHEN normal_balance = 'credit' THEN posted_credits ELSE pending_credits END",
}


def category_balances(conn: Connection, *, ledger: str | None = None, category: str | None = None,
                      category_ids: Sequence[str] | None = None,
                      as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Balances of every category (or of one, by name or id, or of those in ``category_ids``): one row per
    category and currency of the accounts it reaches (one row with zeros and the category's currency when
    it reaches none). Now, or as of an effective time (recomputed from entries with ``effective_at <=
    as_of``). Amounts are exact ints, signed by the category's normal balance."""
    params: dict[str, Any] = {"ledger": ledger, "category": category}
    ids = ""
    if category_ids is not None:
        if not category_ids:
            return []
        placeholders, id_params = params_list("cid", list(category_ids))
        ids = f" AND c.id IN ({placeholders})"
        params.update(id_params)
    if as_of is None:
        sums = ("SELECT ledger_account_id, posted_debits, posted_credits, pending_debits, pending_credits "
                "FROM ledger_account_balances")
    else:
        sums = SUMS_FROM_ENTRIES.format(where="effective_at <= CAST(:as_of AS TIMESTAMPTZ)")
        params["as_of"] = as_of
    unpivoted = " UNION ALL ".join(
        f"SELECT root_id, ledger_account_id, currency, currency_exponent, '{kind}' AS kind, {expr} AS amount "
        "FROM per_account" for kind, expr in _KIND_SQL.items())
    sums_select, as_ints = conn.engine.exact_sums({k: f"u.kind = '{k}'" for k in _BALANCE_KINDS}, "u.amount")
    rows = conn.dicts(_CATEGORY_BALANCES.format(sums=sums, unpivoted=unpivoted, sums_select=sums_select, ids=ids,
                                                category_id=uuid_or_null(':category')),
                      params)
    out = []
    for row in rows:
        totals = as_ints(row)
        result = {k: row[k] for k in ("ledger", "category_id", "category", "normal_balance", "currency")}
        exponent = row["currency_exponent"]
        if exponent is None and row["currency"]:
            exponent = currency_exponent(row["currency"])
        result.update(currency_exponent=None if exponent is None else int(exponent), accounts=int(row["accounts"]),
                      **totals)
        out.append(with_amounts(result))
    return out


def list_categories(conn: Connection, *, ledger: str | None = None) -> list[dict[str, Any]]:
    """Categories (of every ledger, or of one) with their parents, children and the number of accounts they
    hold directly, by ledger then name."""
    rows = conn.dicts(
        "SELECT c.id, l.name AS ledger, c.name, c.description, c.normal_balance, c.currency, c.metadata, "
        "c.archived_at, c.created_at FROM ledger_account_categories c JOIN ledgers l ON l.id = c.ledger_id "
        "WHERE CAST(:ledger AS TEXT) IS NULL OR l.name = :ledger ORDER BY l.name, c.name", {"ledger": ledger})
    names = {r["id"]: r["name"] for r in rows}
    parents: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    for parent, child in conn.all("SELECT parent_category_id, child_category_id FROM "
                                  "ledger_account_category_children WHERE removed_at IS NULL"):
        if parent in names and child in names:
            parents.setdefault(child, []).append(names[parent])
            children.setdefault(parent, []).append(names[child])
    counts = dict(conn.all("SELECT category_id, count(*) FROM ledger_account_category_accounts "
                           "WHERE removed_at IS NULL GROUP BY category_id"))
    for row in rows:
        row["metadata"] = json.loads(row["metadata"] or "{}")
        row["parents"] = sorted(parents.get(row["id"], []))
        row["children"] = sorted(children.get(row["id"], []))
        row["accounts"] = int(counts.get(row["id"], 0))
    return rows


def category_detail(conn: Connection, *, ledger: str, category: str,
                    as_of: datetime | None = None) -> dict[str, Any]:
    """One category with its parents, children, the accounts it holds directly, every account it reaches
    through the hierarchy, and its balances (now or as of an effective time)."""
    row = find_category(conn, ledger, category)
    row.pop("ledger_id")
    row["metadata"] = json.loads(row["metadata"] or "{}")
    row["parents"] = [n for (n,) in conn.all(
        "SELECT c.name FROM ledger_account_category_children h JOIN ledger_account_categories c "
        "ON c.id = h.parent_category_id WHERE h.child_category_id = :id AND h.removed_at IS NULL ORDER BY 1",
        {"id": row["id"]})]
    row["children"] = [n for (n,) in conn.all(
        "SELECT c.name FROM ledger_account_category_children h JOIN ledger_account_categories c "
        "ON c.id = h.child_category_id WHERE h.parent_category_id = :id AND h.removed_at IS NULL ORDER BY 1",
        {"id": row["id"]})]
    row["accounts"] = [n for (n,) in conn.all(
        "SELECT a.name FROM ledger_account_category_accounts m JOIN ledger_accounts a ON a.id = m.ledger_account_id "
        "WHERE m.category_id = :id AND m.removed_at IS NULL ORDER BY 1", {"id": row["id"]})]
    row["reachable_accounts"] = [n for (n,) in conn.all(
        DESCENDANTS + "SELECT DISTINCT a.name FROM down JOIN ledger_account_category_accounts m "
        "ON m.category_id = down.category_id AND m.removed_at IS NULL JOIN ledger_accounts a "
        "ON a.id = m.ledger_account_id ORDER BY 1", {"start": row["id"]})]
    row["balances"] = category_balances(conn, ledger=ledger, category=row["id"], as_of=as_of)
    return row
