"""Transaction matching: bank statement lines against ledger items, in set operations.

A *ledger item* is one ledger transaction's net movement on a ledger account linked to an internal (bank)
account, signed like the bank's lines: positive when it increases the account's balance (a debit on a
debit-normal account), negative otherwise. Pending and posted transactions take part; archived ones do not.

Rules, applied in this order to whatever the previous rules left unmatched (all within one linked account
and with equal signed amounts):

1. ``reference`` (and ``reference_one_to_many``, ``reference_many_to_one``, ``reference_many_to_many``):
   the bank line's reference key equals the ledger item's, and the items sharing the key sum to the same
   amount on both sides: a Stripe payout (``po_...`` in the line's text) equal to the sum of the balance
   transactions carrying that payout id, an Adyen batch (``batch 123`` in the text) equal to the items with
   that ``batch_number``. Keys: bank side the first of a ``po_`` id, a batch number, the customer
   reference, the bank reference; ledger side the first of metadata ``payout_id`` / ``automatic_payout_id``
   / ``payout``, ``batch_number``, ``bank_reference`` / ``reference``, the object id of ``external_id``
   (after its last ``:``). When a strong key (a payout id, a batch number, or any key from ledger metadata)
   is on both sides but the sums differ, those items are a break (``reference_amount_mismatch``) and are
   kept out of the amount rules, so a payout that is short by a fee is never matched to some other item.
2. ``amount_date``: one-to-one on equal amount with dates at most ``window_days`` apart. Ties are broken
   deterministically: each side prefers the nearest date, then the earlier date, then the smaller id, and
   a pair is made when each is the other's first choice; this repeats until no pair is left (the best
   remaining pair is always mutual, so every round makes progress).
3. ``many_to_one``: several bank lines of one day (first those sharing a reference, then the whole day)
   whose sum equals one ledger item within the window.
4. ``one_to_many``: several ledger items of one effective day whose sum equals one bank line within the
   window (a processor payout settling a day's balance transactions when no reference ties them).
5. ``manual``: recorded by a person (:func:`record_manual_match`); auto rules never touch its items.

Matches are kept: a later run matches only what is still unmatched, so a match never moves when new data
arrives; ``rematch=True`` drops the automatic matches of the accounts in scope and matches from scratch.
Match ids are derived from their items and rule, so the same data always gives the same matches and ids.
Unmatched items are written to ``recon_unmatched`` with their age in days at ``as_of`` and a reason:
``reference_amount_mismatch``, ``amount_outside_window`` (an item of the same amount exists on the other
side, but further apart than the window) or ``no_counterpart``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ledger_pipeline.ledger.errors import InputError, LedgerError
from ledger_pipeline.ledger.ids import is_uuid_text, uuid_or_null
from ledger_pipeline.ledger.store import Connection, params_list
from ledger_pipeline.reconcile.accounts import LINKED_INTERNAL_SQL

MANUAL_RULE = "manual"

# Constant patterns (code, not input), written into the SQL as literals so that both engines compile them once.
_PAYOUT_PATTERN = "po_[A-Za-z0-9]+"
_BATCH_PATTERN = "(?i)batch[^0-9]{0,12}([0-9]+)"


_MATCH_ID = "'m_' || substr(md5({key}), 1, 24)"


def utc_day(conn: Connection, expr: str) -> str:
    """The UTC calendar day of a TIMESTAMPTZ (``StoreEngine.utc_day``)."""
    return conn.engine.utc_day(expr)


def _regex_extract(conn: Connection, expr: str, pattern: str, group: bool) -> str:
    return conn.engine.regex_extract(expr, pattern, group)


def _json_text(conn: Connection, expr: str, key: str) -> str:
    return conn.engine.json_text(expr, key)


def _unmatched_filter(side: str, item: str, ledger_account: str, any_matched: bool) -> tuple[str, str]:
    """(join, where) keeping the items not in a match yet. A plain anti-join against ``rc_matched`` (the
    matched items of the accounts in scope): a correlated NOT EXISTS made DuckDB deduplicate every item
    first, even when nothing was matched yet (the first run)."""
    if not any_matched:
        return "", ""
    return (f"LEFT JOIN rc_matched m ON m.side = '{side}' AND m.item_id = {item} "
            f"AND m.ledger_account_id = {ledger_account}", "WHERE m.item_id IS NULL")


def _bank_items_sql(conn: Connection, any_matched: bool = True) -> str:
    haystack = "concat_ws(' ', l.text, l.customer_reference, l.bank_reference)"
    payout = _regex_extract(conn, "h", _PAYOUT_PATTERN, group=False)
    batch = _regex_extract(conn, "h", _BATCH_PATTERN, group=True)
    join, where = _unmatched_filter("bank", "l.id", "s.ledger_account_id", any_matched)
    # The regular expressions only run on lines whose text can hold a match (a cheap substring test first).
    return f"""
SELECT row_number() OVER () AS n, item_id, acct, item_date, amount, currency,
    COALESCE(payout_key, 'batch:' || batch_key, customer_reference, bank_reference) AS ref_key,
    (payout_key IS NOT NULL OR batch_key IS NOT NULL) AS ref_strong
FROM (
    SELECT item_id, acct, item_date, amount, currency, customer_reference, bank_reference,
        CASE WHEN strpos(h, 'po_') > 0 THEN {payout} END AS payout_key,
        CASE WHEN strpos(lower(h), 'batch') > 0 THEN {batch} END AS batch_key
    FROM (
        SELECT l.id AS item_id, s.acct, l.line_date AS item_date, l.amount, l.currency,
            NULLIF(trim(l.customer_reference), '') AS customer_reference,
            NULLIF(trim(l.bank_reference), '') AS bank_reference, {haystack} AS h
        FROM bank_statement_lines l
        JOIN rc_scope s ON s.internal_account_id = l.internal_account_id
        {join} {where}
    ) x
) y
"""


def _ledger_items_sql(conn: Connection, any_matched: bool = True) -> str:
    meta = "t.metadata"
    strong = (f"COALESCE({_json_text(conn, meta, 'payout_id')}, {_json_text(conn, meta, 'automatic_payout_id')}, "
              f"{_json_text(conn, meta, 'payout')}, 'batch:' || {_json_text(conn, meta, 'batch_number')}, "
              f"{_json_text(conn, meta, 'bank_reference')}, {_json_text(conn, meta, 'reference')})")
    object_id = conn.engine.after_last("t.external_id", ":")
    join, where = _unmatched_filter("ledger", "CAST(i.item_id AS TEXT)", "sc.ledger_account_id", any_matched)
    where = f"{where} AND i.amount <> 0" if where else "WHERE i.amount <> 0"
    # A ledger item's id is its transaction's UUID as text, as the reconciliation tables keep every item id
    # (a bank line's too).
    return f"""
SELECT row_number() OVER () AS n, item_id, acct, item_date, amount, currency,
    COALESCE(meta_key, object_id) AS ref_key, (meta_key IS NOT NULL) AS ref_strong
FROM (
    SELECT CAST(i.item_id AS TEXT) AS item_id, i.acct, i.item_date, i.amount, sc.ledger_currency AS currency,
        {object_id} AS object_id,
        CASE WHEN t.metadata <> '{{}}' THEN {strong} END AS meta_key
    FROM (
        SELECT e.ledger_transaction_id AS item_id, s.acct, {utc_day(conn, 'min(e.effective_at)')} AS item_date,
            sum(CASE WHEN e.direction = s.normal_balance THEN e.amount ELSE -e.amount END) AS amount
        FROM ledger_entries e
        JOIN rc_scope s ON e.ledger_account_id = CAST(s.ledger_account_id AS UUID)
        WHERE e.status IN ('pending', 'posted')
        GROUP BY e.ledger_transaction_id, s.acct
    ) i
    JOIN rc_scope sc ON sc.acct = i.acct {join}
    JOIN ledger_transactions t ON t.id = i.item_id
    {where}
) x
"""


@dataclass(frozen=True)
class MatchSummary:
    matches_by_rule: dict[str, int] = field(default_factory=dict)  # new groups made by this run
    bank_matched: int = 0  # bank lines matched by this run
    ledger_matched: int = 0
    bank_unmatched: int = 0  # open after this run
    ledger_unmatched: int = 0
    resolved: int = 0  # previously open exceptions resolved by this run
    dropped_stale: int = 0  # automatic matches dropped because their ledger transaction was archived

    def as_dict(self) -> dict[str, Any]:
        return {"matches_by_rule": dict(self.matches_by_rule), "bank_matched": self.bank_matched,
                "ledger_matched": self.ledger_matched, "bank_unmatched": self.bank_unmatched,
                "ledger_unmatched": self.ledger_unmatched, "resolved": self.resolved,
                "dropped_stale": self.dropped_stale}


def _temp(conn: Connection, name: str, columns_or_select: str, as_select: bool = False,
          params: dict[str, Any] | None = None) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    if as_select:
        conn.execute(f"CREATE TEMPORARY TABLE {name} AS {columns_or_select}", params)
    else:
        conn.execute(f"CREATE TEMPORARY TABLE {name} ({columns_or_select})")


def prepare_scope(conn: Connection, account: str | None) -> int:
    """``rc_scope``: the internal accounts in scope that are linked to a ledger account (``acct`` numbers them)."""
    # ledger_currency: every entry on a ledger account is in its currency (the core's currency_mismatch rule),
    # so a ledger item takes it from here rather than by aggregating a text column over its entries.
    # ledger_account_id is text, as the reconciliation tables keep it; a join with the ledger's UUID columns
    # casts it (this table is the small side).
    _temp(conn, "rc_scope", "acct INTEGER, internal_account_id TEXT, ledger_account_id TEXT, normal_balance TEXT, "
                            "currency TEXT, ledger_currency TEXT")
    conn.execute(
        "INSERT INTO rc_scope SELECT CAST(row_number() OVER (ORDER BY x.id) AS INTEGER), x.id, "
        "CAST(x.ledger_account_id AS TEXT), "
        f"x.normal_balance, x.currency, a.currency FROM ({LINKED_INTERNAL_SQL}) x "
        "JOIN ledger_accounts a ON a.id = x.ledger_account_id", {"account": account})
    return int(conn.scalar("SELECT count(*) FROM rc_scope"))


def _drop_matches(conn: Connection, where: str, params: dict[str, Any] | None = None) -> int:
    """Delete the matches selected by ``where`` (over ``recon_matches m``) with their items."""
    _temp(conn, "rc_drop", f"SELECT m.id FROM recon_matches m WHERE {where}", as_select=True, params=params)
    dropped = int(conn.scalar("SELECT count(*) FROM rc_drop"))
    if dropped:
        conn.execute("DELETE FROM recon_match_group_items WHERE match_id IN (SELECT id FROM rc_drop)")
        conn.execute("DELETE FROM recon_matches WHERE id IN (SELECT id FROM rc_drop)")
    conn.execute("DROP TABLE rc_drop")
    return dropped


def match_transactions(conn: Connection, *, run_id: str, as_of: date, window_days: int, seq: int, now: datetime,
                       rematch: bool = False) -> MatchSummary:
    """Match what is unmatched in the accounts of ``rc_scope`` (see :func:`prepare_scope`) and refresh the
    exceptions list. The caller owns the database transaction.

    Working tables: ``rc_bank_all``/``rc_ledger_all`` hold this run's unmatched items, numbered ``n``;
    ``rc_taken`` the numbers the reference rule took; ``rc_bank_left``/``rc_ledger_left`` what no rule has
    taken yet; ``rc_pairs`` the one-to-one matches and ``rc_gitems`` the items of group matches;
    ``rc_held`` the reference breaks kept out of the amount rules."""
    if window_days < 0:
        raise InputError("window_days must be >= 0")
    scope_filter = "m.ledger_account_id IN (SELECT ledger_account_id FROM rc_scope)"
    dropped = _drop_matches(
        conn, f"{scope_filter} AND m.rule <> 'manual' AND m.id IN (SELECT i.match_id FROM recon_match_items i "
        f"JOIN ledger_transactions t ON t.id = {uuid_or_null('i.item_id')} WHERE i.side = 'ledger' "
        "AND t.status = 'archived')")  # the transaction by its id's index, not every id cast to text
    if rematch:
        _drop_matches(conn, f"{scope_filter} AND m.rule <> 'manual'")

    _temp(conn, "rc_matched", f"SELECT side, item_id, ledger_account_id FROM recon_match_items m WHERE {scope_filter}",
          as_select=True)
    any_matched = bool(conn.scalar("SELECT count(*) FROM rc_matched"))
    _temp(conn, "rc_bank_all", _bank_items_sql(conn, any_matched), as_select=True)
    _temp(conn, "rc_ledger_all", _ledger_items_sql(conn, any_matched), as_select=True)
    _temp(conn, "rc_taken", "side TEXT, n BIGINT")
    _temp(conn, "rc_held", "side TEXT, n BIGINT")
    _temp(conn, "rc_pairs", "b BIGINT, l BIGINT, rule TEXT, acct INTEGER, b_item TEXT, l_item TEXT, b_date DATE, "
                            "l_date DATE, amount NUMERIC(38,0)")
    _temp(conn, "rc_gitems", "gkey TEXT, rule TEXT, match_key TEXT, side TEXT, n BIGINT")

    _match_by_reference(conn)
    _match_amount_date(conn, window_days)
    _match_groups(conn, window_days, group_side="bank", group_by_ref=True)
    _match_groups(conn, window_days, group_side="bank", group_by_ref=False)
    _match_groups(conn, window_days, group_side="ledger", group_by_ref=False)

    by_rule = dict(conn.all("SELECT rule, count(*) FROM rc_pairs GROUP BY rule"))
    for rule, count in conn.all("SELECT rule, count(DISTINCT gkey) FROM rc_gitems GROUP BY rule"):
        by_rule[rule] = by_rule.get(rule, 0) + count
    side_counts = dict(conn.all(
        "SELECT side, count(*) FROM (SELECT side FROM rc_gitems UNION ALL SELECT 'bank' FROM rc_pairs "
        "UNION ALL SELECT 'ledger' FROM rc_pairs) x GROUP BY side"))
    _store_matches(conn, run_id=run_id, seq=seq, now=now)
    resolved, bank_open, ledger_open = _refresh_unmatched(conn, run_id=run_id, as_of=as_of, seq=seq, now=now)
    return MatchSummary(
        matches_by_rule={k: int(v) for k, v in sorted(by_rule.items())},
        bank_matched=int(side_counts.get("bank", 0)), ledger_matched=int(side_counts.get("ledger", 0)),
        bank_unmatched=bank_open, ledger_unmatched=ledger_open, resolved=resolved, dropped_stale=dropped,
    )


def _pool(side: str) -> str:
    """The items of ``side`` that no rule has taken yet (nor held out). Before the amount rule, all items
    but the reference rule's (few); after it, ``rc_bank_left``/``rc_ledger_left``, which then lose what
    each rule takes, so that the later rules and the exceptions scan what is left (a few thousand items)
    rather than filter a million against a million taken ones each time."""
    return f"(SELECT * FROM rc_{side}_left WHERE n NOT IN (SELECT n FROM rc_held WHERE side = '{side}'))"


def _pool_before_amount_rule(side: str) -> str:
    return (f"(SELECT * FROM rc_{side}_all WHERE n NOT IN (SELECT n FROM rc_taken WHERE side = '{side}') "
            f"AND n NOT IN (SELECT n FROM rc_held WHERE side = '{side}'))")


def _remove_taken(conn: Connection, side: str, taken: str) -> None:
    conn.execute(f"DELETE FROM rc_{side}_left WHERE n IN ({taken})")


def _match_by_reference(conn: Connection) -> None:
    # Only ledger items whose key appears on some bank line are grouped (a semi-join first keeps it small).
    groups = """
    WITH b AS (SELECT acct, ref_key, count(*) AS cnt, sum(amount) AS total, bool_or(ref_strong) AS strong
               FROM rc_bank_all WHERE ref_key IS NOT NULL GROUP BY acct, ref_key),
         l AS (SELECT acct, ref_key, count(*) AS cnt, sum(amount) AS total, bool_or(ref_strong) AS strong
               FROM rc_ledger_all WHERE ref_key IN (SELECT ref_key FROM b) GROUP BY acct, ref_key)
    SELECT b.acct, b.ref_key, b.cnt AS b_cnt, l.cnt AS l_cnt, b.total = l.total AS equal,
           (b.strong OR l.strong) AS strong
    FROM b JOIN l ON l.acct = b.acct AND l.ref_key = b.ref_key
    """
    _temp(conn, "rc_refgroups", groups, as_select=True)
    rule = ("CASE WHEN g.b_cnt = 1 AND g.l_cnt = 1 THEN 'reference' WHEN g.b_cnt = 1 THEN 'reference_one_to_many' "
            "WHEN g.l_cnt = 1 THEN 'reference_many_to_one' ELSE 'reference_many_to_many' END")
    for side, pool in (("bank", "rc_bank_all"), ("ledger", "rc_ledger_all")):
        conn.execute(
            f"INSERT INTO rc_gitems SELECT 'reference|' || s.ledger_account_id || '|' || g.ref_key, {rule}, g.ref_key, "
            f"'{side}', p.n FROM {pool} p JOIN rc_refgroups g ON g.acct = p.acct AND g.ref_key = p.ref_key "
            "JOIN rc_scope s ON s.acct = g.acct WHERE g.equal")
        # Breaks stay out of the amount rules (and are reported as such).
        conn.execute(
            f"INSERT INTO rc_held SELECT '{side}', p.n FROM {pool} p JOIN rc_refgroups g "
            "ON g.acct = p.acct AND g.ref_key = p.ref_key WHERE NOT g.equal AND g.strong")
    conn.execute("INSERT INTO rc_taken SELECT side, n FROM rc_gitems")


def _mutual_best(conn: Connection) -> None:
    """Pair the candidates of ``rc_cand`` (b, l, d, b_date, b_id, l_date, l_id) one-to-one into ``rc_best``
    by repeated mutual first choice."""
    _temp(conn, "rc_best", "b BIGINT, l BIGINT")
    _temp(conn, "rc_round", "b BIGINT, l BIGINT")
    while conn.scalar("SELECT count(*) FROM rc_cand"):
        conn.execute(
            "INSERT INTO rc_round SELECT b, l FROM ("
            "SELECT b, l, row_number() OVER (PARTITION BY b ORDER BY d, l_date, l_id) AS rb, "
            "row_number() OVER (PARTITION BY l ORDER BY d, b_date, b_id) AS rl FROM rc_cand) x "
            "WHERE rb = 1 AND rl = 1")
        conn.execute("INSERT INTO rc_best SELECT b, l FROM rc_round")
        conn.execute("DELETE FROM rc_cand WHERE b IN (SELECT b FROM rc_round) OR l IN (SELECT l FROM rc_round)")
        conn.execute("DELETE FROM rc_round")


def _match_amount_date(conn: Connection, window_days: int) -> None:
    # Candidates carry what a stored match needs, so the (many) unambiguous pairs need no join back.
    _temp(conn, "rc_cand0", f"""
        SELECT b.n AS b, l.n AS l, abs(b.item_date - l.item_date) AS d, b.item_date AS b_date, l.item_date AS l_date,
               b.acct, b.item_id AS b_item, l.item_id AS l_item, b.amount
        FROM {_pool_before_amount_rule('bank')} b JOIN {_pool_before_amount_rule('ledger')} l
            ON l.acct = b.acct AND l.amount = b.amount
        WHERE abs(b.item_date - l.item_date) <= {int(window_days)}""", as_select=True)
    # A line with one candidate whose only candidate it is: the pair every tie-break would make. The rest
    # (contested candidates) go through the mutual-best rounds.
    _temp(conn, "rc_only_b", "SELECT b FROM rc_cand0 GROUP BY b HAVING count(*) = 1", as_select=True)
    _temp(conn, "rc_only_l", "SELECT l FROM rc_cand0 GROUP BY l HAVING count(*) = 1", as_select=True)
    conn.execute("INSERT INTO rc_pairs SELECT b, l, 'amount_date', acct, b_item, l_item, b_date, l_date, amount "
                 "FROM rc_cand0 WHERE b IN (SELECT b FROM rc_only_b) AND l IN (SELECT l FROM rc_only_l)")
    _temp(conn, "rc_cand", """
        SELECT b, l, d, b_date, b_item AS b_id, l_date, l_item AS l_id FROM rc_cand0
        WHERE NOT (b IN (SELECT b FROM rc_only_b) AND l IN (SELECT l FROM rc_only_l))""", as_select=True)
    _mutual_best(conn)
    conn.execute("INSERT INTO rc_pairs SELECT c.b, c.l, 'amount_date', c.acct, c.b_item, c.l_item, c.b_date, "
                 "c.l_date, c.amount FROM rc_cand0 c JOIN rc_best x ON x.b = c.b AND x.l = c.l")
    for side, col in (("bank", "b"), ("ledger", "l")):
        _temp(conn, f"rc_{side}_left", f"SELECT * FROM rc_{side}_all WHERE n NOT IN (SELECT n FROM rc_taken "
              f"WHERE side = '{side}') AND n NOT IN (SELECT {col} FROM rc_pairs)", as_select=True)
    for name in ("rc_cand0", "rc_only_b", "rc_only_l"):
        conn.execute(f"DROP TABLE {name}")


def _match_groups(conn: Connection, window_days: int, *, group_side: str, group_by_ref: bool) -> None:
    """Several items of one day on ``group_side`` (optionally also sharing a reference) summing to one
    item on the other side within the window: ``many_to_one`` (bank lines) or ``one_to_many`` (ledger)."""
    single_side = "ledger" if group_side == "bank" else "bank"
    rule = "many_to_one" if group_side == "bank" else "one_to_many"
    ref_col = "ref_key" if group_by_ref else "CAST(NULL AS TEXT)"
    ref_filter = "WHERE ref_key IS NOT NULL" if group_by_ref else ""
    _temp(conn, "rc_gpool", f"SELECT * FROM {_pool(group_side)} p", as_select=True)
    _temp(conn, "rc_spool", f"SELECT * FROM {_pool(single_side)} p", as_select=True)
    _temp(conn, "rc_groups", f"""
        SELECT row_number() OVER () AS g, acct, item_date, grp_ref, total, first_id FROM (
            SELECT acct, item_date, {ref_col} AS grp_ref, sum(amount) AS total, count(*) AS cnt,
                   min(item_id) AS first_id
            FROM rc_gpool {ref_filter} GROUP BY acct, item_date, {ref_col}) x
        WHERE cnt >= 2 AND total <> 0""", as_select=True)
    if not conn.scalar("SELECT count(*) FROM rc_groups"):
        return
    bank_is_group = group_side == "bank"
    _temp(conn, "rc_cand", f"""
        SELECT {'g.g' if bank_is_group else 's.n'} AS b, {'s.n' if bank_is_group else 'g.g'} AS l,
               abs(g.item_date - s.item_date) AS d,
               {'g' if bank_is_group else 's'}.item_date AS b_date,
               {'g.first_id' if bank_is_group else 's.item_id'} AS b_id,
               {'s' if bank_is_group else 'g'}.item_date AS l_date,
               {'s.item_id' if bank_is_group else 'g.first_id'} AS l_id
        FROM rc_groups g JOIN rc_spool s ON s.acct = g.acct AND s.amount = g.total
        WHERE abs(g.item_date - s.item_date) <= {int(window_days)}""", as_select=True)
    _mutual_best(conn)
    single_col, group_col = ("l", "b") if bank_is_group else ("b", "l")
    gkey = f"'{rule}|' || sc.ledger_account_id || '|' || s.item_id"
    paired = (f"FROM rc_best x JOIN rc_spool s ON s.n = x.{single_col} JOIN rc_groups g ON g.g = x.{group_col} "
              "JOIN rc_scope sc ON sc.acct = s.acct")
    conn.execute(f"INSERT INTO rc_gitems SELECT {gkey}, '{rule}', g.grp_ref, '{single_side}', s.n {paired}")
    ref_join = "AND p.ref_key = g.grp_ref" if group_by_ref else ""
    conn.execute(f"INSERT INTO rc_gitems SELECT {gkey}, '{rule}', g.grp_ref, '{group_side}', p.n {paired} "
                 f"JOIN rc_gpool p ON p.acct = g.acct AND p.item_date = g.item_date {ref_join}")
    for side in ("bank", "ledger"):
        _remove_taken(conn, side, f"SELECT n FROM rc_gitems WHERE rule = '{rule}' AND side = '{side}'")


def _store_matches(conn: Connection, *, run_id: str, seq: int, now: datetime) -> None:
    # One-to-one pairs: one row each, with both items on it; the id derived from the two items and the rule.
    match_id = _MATCH_ID.format(key="p.rule || '|' || p.b_item || '|' || s.ledger_account_id || '|' || p.l_item")
    params = {"run_id": run_id, "now": now, "seq": seq}
    conn.execute(
        "INSERT INTO recon_matches (id, internal_account_id, ledger_account_id, rule, match_key, bank_count, "
        "ledger_count, bank_total, ledger_total, created_by, note, run_id, created_at, change_seq, bank_item_id, "
        f"bank_item_date, ledger_item_id, ledger_item_date) SELECT {match_id}, s.internal_account_id, "
        "s.ledger_account_id, p.rule, NULL, 1, 1, p.amount, p.amount, 'auto', NULL, :run_id, :now, :seq, p.b_item, "
        "p.b_date, p.l_item, p.l_date FROM rc_pairs p JOIN rc_scope s ON s.acct = p.acct", params)
    # Group matches.
    _temp(conn, "rc_gi", f"""
        SELECT {_MATCH_ID.format(key="g.gkey")} AS match_id, g.rule, g.match_key, g.side, p.item_id, p.acct,
               p.item_date, p.amount
        FROM rc_gitems g JOIN rc_bank_all p ON g.side = 'bank' AND p.n = g.n
        UNION ALL
        SELECT {_MATCH_ID.format(key="g.gkey")}, g.rule, g.match_key, g.side, p.item_id, p.acct, p.item_date, p.amount
        FROM rc_gitems g JOIN rc_ledger_all p ON g.side = 'ledger' AND p.n = g.n""", as_select=True)
    conn.execute(
        "INSERT INTO recon_matches (id, internal_account_id, ledger_account_id, rule, match_key, bank_count, "
        "ledger_count, bank_total, ledger_total, created_by, note, run_id, created_at, change_seq) "
        "SELECT g.match_id, min(s.internal_account_id), min(s.ledger_account_id), min(g.rule), min(g.match_key), "
        "count(*) FILTER (WHERE g.side = 'bank'), count(*) FILTER (WHERE g.side = 'ledger'), "
        "COALESCE(sum(g.amount) FILTER (WHERE g.side = 'bank'), 0), "
        "COALESCE(sum(g.amount) FILTER (WHERE g.side = 'ledger'), 0), 'auto', NULL, :run_id, :now, :seq "
        "FROM rc_gi g JOIN rc_scope s ON s.acct = g.acct GROUP BY g.match_id", params)
    conn.execute(
        "INSERT INTO recon_match_group_items (match_id, side, item_id, internal_account_id, ledger_account_id, "
        "item_date, amount, change_seq) SELECT g.match_id, g.side, g.item_id, s.internal_account_id, "
        "s.ledger_account_id, g.item_date, g.amount, :seq FROM rc_gi g JOIN rc_scope s ON s.acct = g.acct",
        {"seq": seq})


def _refresh_unmatched(conn: Connection, *, run_id: str, as_of: date, seq: int,
                       now: datetime) -> tuple[int, int, int]:
    """Write the open exceptions (what no rule took, the held-out breaks included) with their reason and
    age; resolve the exceptions of the accounts in scope that are no longer open (matched, or archived)."""
    cols = "n, item_id, acct, item_date, amount, currency, ref_key"
    # A ledger item's id is its transaction's, so the transaction is looked up by the UUID it spells.
    _temp(conn, "rc_open", f"""
        SELECT 'bank' AS side, {cols},
            (SELECT l.text FROM bank_statement_lines l WHERE l.id = b.item_id) AS description
        FROM rc_bank_left b
        UNION ALL
        SELECT 'ledger', {cols}, (SELECT COALESCE(t.description, t.external_id) FROM ledger_transactions t
                                  WHERE t.id = CAST(x.item_id AS UUID))
        FROM rc_ledger_left x""", as_select=True)
    reason = """CASE WHEN EXISTS (SELECT 1 FROM rc_held h WHERE h.side = o.side AND h.n = o.n)
            THEN 'reference_amount_mismatch'
        WHEN EXISTS (SELECT 1 FROM rc_open x WHERE x.side <> o.side AND x.acct = o.acct AND x.amount = o.amount
                     AND NOT EXISTS (SELECT 1 FROM rc_held h WHERE h.side = x.side AND h.n = x.n))
            THEN 'amount_outside_window'
        ELSE 'no_counterpart' END"""
    _temp(conn, "rc_open_rows", f"""
        SELECT o.side, o.item_id, s.internal_account_id, s.ledger_account_id, o.item_date, o.amount, o.currency,
            o.ref_key AS reference, o.description, {reason} AS reason,
            CAST(CAST(:as_of AS DATE) - o.item_date AS INTEGER) AS age_days
        FROM rc_open o JOIN rc_scope s ON s.acct = o.acct""", as_select=True, params={"as_of": as_of})
    params = {"as_of": as_of, "run_id": run_id, "seq": seq}
    conn.execute(
        "UPDATE recon_unmatched SET reason = o.reason, age_days = o.age_days, as_of = CAST(:as_of AS DATE), "
        "status = 'open', last_run_id = :run_id, resolved_at = NULL, change_seq = :seq FROM rc_open_rows o "
        "WHERE recon_unmatched.side = o.side AND recon_unmatched.item_id = o.item_id "
        "AND recon_unmatched.ledger_account_id = o.ledger_account_id", params)
    conn.execute(
        "INSERT INTO recon_unmatched (side, item_id, internal_account_id, ledger_account_id, item_date, amount, currency, "
        "reference, description, reason, age_days, as_of, status, first_run_id, last_run_id, resolved_at, change_seq) "
        "SELECT o.side, o.item_id, o.internal_account_id, o.ledger_account_id, o.item_date, o.amount, o.currency, "
        "o.reference, o.description, o.reason, o.age_days, CAST(:as_of AS DATE), 'open', :run_id, :run_id, NULL, :seq "
        "FROM rc_open_rows o WHERE NOT EXISTS (SELECT 1 FROM recon_unmatched u WHERE u.side = o.side "
        "AND u.item_id = o.item_id AND u.ledger_account_id = o.ledger_account_id)", params)
    resolved = conn.execute(
        "UPDATE recon_unmatched SET status = 'resolved', resolved_at = :now, last_run_id = :run_id, change_seq = :seq "
        "WHERE status = 'open' AND ledger_account_id IN (SELECT ledger_account_id FROM rc_scope) "
        "AND NOT EXISTS (SELECT 1 FROM rc_open_rows o WHERE o.side = recon_unmatched.side "
        "AND o.item_id = recon_unmatched.item_id AND o.ledger_account_id = recon_unmatched.ledger_account_id)",
        {"now": now, "run_id": run_id, "seq": seq})
    counts = dict(conn.all("SELECT side, count(*) FROM rc_open_rows GROUP BY side"))
    return max(resolved, 0), int(counts.get("bank", 0)), int(counts.get("ledger", 0))


def record_manual_match(conn: Connection, *, bank_line_ids: Sequence[str], ledger_transactions: Sequence[str],
                        note: str | None = None, actor: str = "manual", allow_difference: bool = False,
                        seq: int, now: datetime) -> dict[str, Any]:
    """Record that these bank lines (of one internal account) and these ledger transactions (ids or
    external ids, on that account's linked ledger account) are one match. Refused when an item is unknown or
    already matched, or when the totals differ (unless ``allow_difference``). The caller owns the transaction."""
    if not bank_line_ids or not ledger_transactions:
        raise InputError("a manual match needs at least one bank line and one ledger transaction")
    in_bank, bank_params = params_list("b", list(dict.fromkeys(bank_line_ids)))
    bank = conn.dicts(
        "SELECT l.id, l.internal_account_id, a.id AS ledger_account_id, a.normal_balance, l.line_date, l.amount "
        "FROM bank_statement_lines l LEFT JOIN ledger_accounts a ON a.ledgerable_type = 'internal_account' "
        f"AND a.ledgerable_id = l.internal_account_id WHERE l.id IN ({in_bank}) ORDER BY l.id", bank_params)
    missing = sorted(set(bank_params.values()) - {r["id"] for r in bank})
    if missing:
        raise InputError(f"bank lines not found: {', '.join(missing)}")
    accounts = {(r["internal_account_id"], r["ledger_account_id"], r["normal_balance"]) for r in bank}
    if len(accounts) != 1:
        raise InputError("the bank lines of a manual match must belong to one internal account")
    internal_account_id, ledger_account_id, normal = accounts.pop()
    if ledger_account_id is None:
        raise InputError(f"internal account {internal_account_id} is not linked to a ledger account")
    in_tx, tx_params = params_list("t", list(dict.fromkeys(ledger_transactions)))
    # Only a reference that is a UUID can be a transaction's id (any text may be an external id).
    in_ids, id_params = params_list("i", [ref for ref in tx_params.values() if is_uuid_text(ref)])
    by_id = f"t.id IN ({in_ids}) OR " if in_ids else ""
    ledger = conn.dicts(
        "SELECT t.id, min(t.status) AS status, CAST(min(e.effective_at) AS DATE) AS item_date, "
        "sum(CASE WHEN e.direction = :normal THEN e.amount ELSE -e.amount END) AS amount, "
        "min(t.external_id) AS external_id FROM ledger_transactions t "
        "JOIN ledger_entries e ON e.ledger_transaction_id = t.id AND e.ledger_account_id = :account "
        f"WHERE {by_id}t.external_id IN ({in_tx}) GROUP BY t.id ORDER BY t.id",
        {**tx_params, **id_params, "normal": normal, "account": ledger_account_id})
    found = {r["id"] for r in ledger} | {r["external_id"] for r in ledger}
    missing = sorted(set(tx_params.values()) - found)
    if missing:
        raise InputError(f"ledger transactions with no entry on the linked ledger account: {', '.join(missing)}")
    if any(r["status"] == "archived" for r in ledger):
        raise InputError("archived ledger transactions cannot be matched")
    items = [("bank", r["id"], r["line_date"], int(r["amount"])) for r in bank] + \
            [("ledger", r["id"], r["item_date"], int(r["amount"])) for r in ledger]
    taken = conn.all(
        "SELECT side, item_id, match_id FROM recon_match_items WHERE ledger_account_id = :account AND "
        f"((side = 'bank' AND item_id IN ({in_bank})) OR (side = 'ledger' AND item_id IN "
        f"({', '.join(':l' + str(i) for i in range(len(ledger)))})))",
        {**bank_params, "account": ledger_account_id, **{f"l{i}": r["id"] for i, r in enumerate(ledger)}})
    if taken:
        raise LedgerError("already matched: " + ", ".join(f"{side} {item} (match {m})" for side, item, m in taken))
    bank_total = sum(a for side, _, _, a in items if side == "bank")
    ledger_total = sum(a for side, _, _, a in items if side == "ledger")
    if bank_total != ledger_total and not allow_difference:
        raise LedgerError(f"bank lines total {bank_total}, ledger transactions {ledger_total}: "
                          "pass allow_difference to record the match anyway")
    match_id = "m_" + short_hash(MANUAL_RULE, ledger_account_id, *sorted(f"{s}:{i}" for s, i, _, _ in items))
    conn.execute(
        "INSERT INTO recon_matches (id, internal_account_id, ledger_account_id, rule, match_key, bank_count, "
        "ledger_count, bank_total, ledger_total, created_by, note, run_id, created_at, change_seq) VALUES (:id, "
        ":internal, :account, :rule, NULL, :bc, :lc, :bt, :lt, :actor, :note, NULL, :now, :seq)",
        {"id": match_id, "internal": internal_account_id, "account": ledger_account_id, "rule": MANUAL_RULE,
         "bc": len(bank), "lc": len(ledger), "bt": bank_total, "lt": ledger_total, "actor": actor, "note": note,
         "now": now, "seq": seq})
    for side, item_id, item_date, amount in items:
        conn.execute(
            "INSERT INTO recon_match_group_items (match_id, side, item_id, internal_account_id, ledger_account_id, "
            "item_date, amount, change_seq) VALUES (:m, :side, :item, :internal, :account, :d, :amount, :seq)",
            {"m": match_id, "side": side, "item": item_id, "internal": internal_account_id,
             "account": ledger_account_id, "d": item_date, "amount": amount, "seq": seq})
    conn.execute(
        "UPDATE recon_unmatched SET status = 'resolved', resolved_at = :now, change_seq = :seq WHERE status = 'open' "
        "AND ledger_account_id = :account AND EXISTS (SELECT 1 FROM recon_match_items m WHERE m.match_id = :m "
        "AND m.side = recon_unmatched.side AND m.item_id = recon_unmatched.item_id)",
        {"now": now, "seq": seq, "account": ledger_account_id, "m": match_id})
    return {"match_id": match_id, "rule": MANUAL_RULE, "bank_total": bank_total, "ledger_total": ledger_total,
            "bank_lines": len(bank), "ledger_transactions": len(ledger)}


def remove_match(conn: Connection, match_id: str) -> bool:
    """Delete a match (its items are unmatched again and reported by the next run). An automatic match can
    be made again by the next run; record a manual match to pin the right pairing."""
    return _drop_matches(conn, "m.id = :id", {"id": match_id}) > 0


def short_hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
