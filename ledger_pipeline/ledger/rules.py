"""The double-entry rules (docs/design.md, rules 1-8), each a named function returning the SQL that selects its
violating rows from a staged batch.

A batch is staged in three temporary relations (see ``staging.py``):

* ``batch_entries``: one row per proposed entry, normalised, with its account resolved and its amount
  converted to exact minor units (or ``amount_error`` set);
* ``batch_txs``: one row per proposed transaction (``tx_key``), with its aggregates, payload hash and the
  existing transaction of the same ``external_id``, if any;
* ``batch_violations``: what the rules below return.

Every rule selects ``tx_key, line, reason_code, detail``. A transaction with any violation is refused as a
whole (it goes to quarantine in batch mode); all violations are collected, the first does not stop the
others. The registry ``RULES`` is an immutable tuple and the balance rule is always in it.

Rule 7 (balance limits) depends on which other transactions are accepted, so it runs after these as
``limit_violations_sql``; rule 8 (ledger-wide invariants) lives in ``invariants.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from ledger_pipeline.ledger.staging import record_ref_sql


@dataclass(frozen=True)
class Rule:
    name: str
    design_rule: int
    sql: Callable[[], str]


_REF = record_ref_sql()  # the entry's reference in error details (built only for the rows that break a rule)


class _OverRows(str):
    """The SQL of a rule that tests each row of one staged relation alone (``batch_entries``: each entry;
    ``batch_txs``: each transaction's aggregates): the rows of ``relation`` that meet ``condition``. It keeps
    its parts, so that ``violations_sql`` can test every such condition in one read of the relation."""

    relation: str
    columns: str
    condition: str

    def __new__(cls, relation: str, columns: str, condition: str) -> _OverRows:
        sql = super().__new__(cls, f"SELECT {columns} FROM {relation} WHERE {condition}")
        sql.relation, sql.columns, sql.condition = relation, columns, condition
        return sql

    def over(self, relation: str) -> str:
        """The same rule over ``relation`` (some rows of ``self.relation``)."""
        return f"SELECT {self.columns} FROM {relation} WHERE {self.condition}"


def _tx_rule(columns: str, condition: str) -> _OverRows:
    return _OverRows("batch_txs", columns, condition)


def _entry_rule(condition: str, code: str, detail: str) -> str:
    return _OverRows("batch_entries", f"tx_key, line, '{code}' AS reason_code, {detail} AS detail", condition)


def required_fields() -> str:
    detail = (
        f"'line ' || CAST(line AS TEXT) || ' (' || {_REF} || '): missing ' || concat_ws(', ', "
        "CASE WHEN external_id IS NULL THEN 'external_id' END, CASE WHEN account_ref IS NULL THEN 'account' END, "
        "CASE WHEN direction IS NULL THEN 'direction' END, CASE WHEN amount_text IS NULL THEN 'amount' END)"
    )
    condition = "external_id IS NULL OR account_ref IS NULL OR direction IS NULL OR amount_text IS NULL"
    return _entry_rule(condition, "missing_field", detail)


_TEXT_COLUMNS = ("external_id", "account_ref", "direction", "currency", "status", "effective_at_text", "amount_text",
                 "description", "metadata", "source", "ledgerable_type", "ledgerable_id", "reverses_id")


def valid_text() -> str:
    """Rule 1: text a store or the warehouse cannot keep is refused at the door. A NUL byte arrives here as
    U+FFFD (``stage_input.UNSTORABLE_MARK``), and U+FFFD itself is the mark of text lost in decoding. Each
    column is searched on its own: joining them first built a new text for every entry of a batch."""
    return _entry_rule(
        " OR ".join(f"{column} LIKE '%' || chr(65533) || '%'" for column in _TEXT_COLUMNS),
        "invalid_text",
        f"{_REF} || ': a text field holds a NUL byte or text that is not valid UTF-8'",
    )


#: the characters an external_id may not begin or end with: Unicode white space (``str.isspace``) and the
#: byte order mark, spelt out so that both engines test the same set
EDGE_SPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")


def valid_external_id() -> str:
    """Rule 1: an external_id is used as given, so one with white space at an end (``"txn2 "``) is refused
    (``invalid_external_id``): kept, it would be another transaction than ``"txn2"`` although no one could
    tell them apart in a file or a report; trimmed, it would silently match ``"txn2"``. The end characters'
    code points (``ascii`` gives a text's first on both engines) are looked up in ``EDGE_SPACE``'s: a search
    of ``EDGE_SPACE`` for each end cost PostgreSQL more than the other entry rules together."""
    codes = ", ".join(str(ord(character)) for character in EDGE_SPACE)
    return _entry_rule(
        f"external_id IS NOT NULL AND (ascii(external_id) IN ({codes}) OR ascii(right(external_id, 1)) IN ({codes}))",
        "invalid_external_id",
        f"{_REF} || ': external_id ' || external_id || ' begins or ends with white space'",
    )


def valid_metadata() -> str:
    """Rule 1: ``metadata`` is a JSON object (see ``staging.prepare_entries_sql``)."""
    return _entry_rule(
        "metadata_invalid",
        "invalid_metadata",
        f"{_REF} || ': metadata ' || substr(metadata, 1, 80) || ' is not a JSON object'",
    )


def valid_direction() -> str:
    return _entry_rule(
        "direction IS NOT NULL AND direction NOT IN ('debit', 'credit')",
        "invalid_direction",
        f"{_REF} || ': direction ' || direction || ' is not debit or credit'",
    )


def valid_status() -> str:
    return _entry_rule(
        "status NOT IN ('pending', 'posted', 'archived')",
        "invalid_status",
        f"{_REF} || ': status ' || status || ' is not pending, posted or archived'",
    )


def valid_effective_at() -> str:
    return _entry_rule(
        "effective_at IS NULL AND NULLIF(trim(effective_at_text), '') IS NOT NULL",
        "invalid_effective_at",
        f"{_REF} || ': effective_at ' || COALESCE(effective_at_text, '') || ' is not a timestamp'",
    )


def ledger_exists() -> str:
    return _entry_rule(
        "ledger_id IS NULL",
        "unknown_ledger",
        f"{_REF} || ': ledger ' || ledger_name || ' does not exist'",
    )


def account_exists() -> str:
    return _entry_rule(
        "ledger_id IS NOT NULL AND account_ref IS NOT NULL AND ledger_account_id IS NULL AND NOT account_ambiguous",
        "unknown_account",
        f"{_REF} || ': account ' || account_ref || ' does not exist in ledger ' || ledger_name",
    )


def account_unambiguous() -> str:
    """A reference that is one account's id and another account's name names neither (``staging.py``)."""
    return _entry_rule(
        "account_ambiguous",
        "ambiguous_account",
        f"{_REF} || ': account ' || account_ref || ' is the id of one account and the name of another in ledger ' "
        "|| ledger_name || '; name the account meant by its id'",
    )


def account_open() -> str:
    return _entry_rule(
        "account_archived",
        "archived_account",
        f"{_REF} || ': account ' || account_ref || ' is archived'",
    )


def account_currency() -> str:
    return _entry_rule(
        "ledger_account_id IS NOT NULL AND currency <> account_currency",
        "currency_mismatch",
        f"{_REF} || ': currency ' || currency || ' differs from account ' || account_ref "
        "|| ' currency ' || account_currency",
    )


def positive_exact_amounts() -> str:
    """Rule 3: ``amount_error`` is computed while staging (see ``staging.PREPARE_ENTRIES``)."""
    return _OverRows(
        "batch_entries",
        f"tx_key, line, amount_error AS reason_code, {_REF} || ': amount ' || amount_text || CASE "
        "amount_error WHEN 'excess_precision' THEN ' has more decimal places than ' || account_currency "
        "|| ' allows (' || CAST(exponent AS TEXT) || ')' "
        "WHEN 'non_positive_amount' THEN ' is not positive' "
        "WHEN 'amount_too_large' THEN ' has more than 38 digits in minor units' "
        "WHEN 'conflicting_amounts' THEN ' (amount_minor) disagrees with the amount column of the same row' "
        "ELSE ' is not a plain decimal number' END AS detail",
        "amount_error IS NOT NULL",
    )


def enough_entries() -> str:
    return _tx_rule(
        "tx_key, first_line AS line, 'too_few_entries' AS reason_code, "
        "'transaction ' || tx_key || ' has ' || CAST(n_entries AS TEXT) || ' entry; at least two are needed' "
        "AS detail", "n_entries < 2")


def both_sides() -> str:
    return _tx_rule(
        "tx_key, first_line AS line, 'one_sided' AS reason_code, "
        "'transaction ' || tx_key || ' has ' || CAST(n_debits AS TEXT) || ' debits and ' "
        "|| CAST(n_credits AS TEXT) || ' credits' AS detail",
        "n_entries >= 2 AND (n_debits = 0 OR n_credits = 0)")


def consistent_header() -> str:
    return _tx_rule(
        "tx_key, first_line AS line, 'inconsistent_transaction' AS reason_code, "
        "'entries of ' || tx_key || ' disagree on ' || concat_ws(', ', "
        "CASE WHEN n_ledgers > 1 THEN 'ledger' END, CASE WHEN n_statuses > 1 THEN 'status' END, "
        "CASE WHEN n_effective > 1 THEN 'effective_at' END, CASE WHEN n_descriptions > 1 THEN 'description' END, "
        "CASE WHEN n_metadata > 1 THEN 'metadata' END) AS detail",
        "n_ledgers > 1 OR n_statuses > 1 OR n_effective > 1 OR n_descriptions > 1 OR n_metadata > 1")


def one_group_per_transaction() -> str:
    """Rule 1: a transaction's rows are one run of consecutive rows in the batch. Two runs with the same
    external_id (the same transaction given twice, or two transactions sharing an id) are refused, never
    merged into one. Rows are in line order (a file's order; a caller's own ``line`` column defines it).
    A replayed quarantine item keeps the gaps of its original lines
    (``quarantine._replay_table``): a gap within its rows is such a split too.

    Lines are unique in a batch, so a transaction split either way spans more lines than it has rows
    (``batch_txs.last_line``); only when some transaction does are all rows walked in line order, which
    takes a sort of the whole batch."""
    return (
        "SELECT tx_key, min(line) AS line, 'duplicate_external_id_in_batch' AS reason_code, "
        "'external_id ' || tx_key || ' is given in ' || CAST(count(*) AS TEXT) || ' separate groups of rows, "
        "starting at lines ' || string_agg(CAST(line AS TEXT), ', ' ORDER BY line) AS detail "
        "FROM (SELECT tx_key, line, quarantine_id, lag(tx_key) OVER (ORDER BY line) AS previous, "
        "lag(line) OVER (ORDER BY line) AS previous_line FROM batch_entries "
        "WHERE EXISTS (SELECT 1 FROM batch_txs WHERE last_line - first_line + 1 > n_entries)) s "
        "WHERE previous IS NULL OR previous <> tx_key OR (quarantine_id IS NOT NULL AND line > previous_line + 1) "
        "GROUP BY tx_key HAVING count(*) > 1"
    )


def balanced_per_currency() -> str:
    """Rule 2, the double-entry rule itself: per transaction and currency, debits equal credits exactly.

    A transaction with an entry whose amount or currency is unknown (unknown account, unreadable amount) is
    not judged here: those entries already carry their own reason, and a per-currency sum without them
    would report a misleading imbalance.

    A transaction whose staged ``imbalance`` is zero (one currency, every entry a debit or a credit with a
    known amount: ``staging.py``) is balanced; only the others are grouped per currency here, which in a
    clean batch is none.
    """
    return (
        "SELECT tx_key, line, 'unbalanced' AS reason_code, "
        "'transaction ' || tx_key || ' ' || currency || ': debits ' || CAST(debits AS TEXT) || ' != credits ' "
        "|| CAST(credits AS TEXT) || ' (minor units)' AS detail "
        "FROM (SELECT tx_key, currency, min(line) AS line, "
        "sum(CASE WHEN direction = 'debit' THEN amount ELSE 0 END) AS debits, "
        "sum(CASE WHEN direction = 'credit' THEN amount ELSE 0 END) AS credits "
        "FROM batch_entries WHERE direction IN ('debit', 'credit') "
        "AND tx_key IN (SELECT tx_key FROM batch_txs WHERE imbalance IS NULL OR imbalance <> 0) AND tx_key NOT IN "
        "(SELECT tx_key FROM batch_violations WHERE reason_code = 'balance_overflow') GROUP BY tx_key, currency) g "
        "WHERE debits <> credits AND NOT EXISTS (SELECT 1 FROM batch_entries x WHERE x.tx_key = g.tx_key "
        "AND x.direction IN ('debit', 'credit') AND (x.amount IS NULL OR x.currency IS NULL))"
    )


def unique_external_id() -> str:
    """Rule 5: the same payload again is a no-op (not a violation); other content is a conflict."""
    return _tx_rule(
        "tx_key, first_line AS line, 'external_id_conflict' AS reason_code, "
        "'external_id ' || external_id || ' already exists in ledger ' || ledger_name "
        "|| ' (transaction ' || existing_id || ') with different content' AS detail",
        "existing_id IS NOT NULL AND existing_hash <> payload_hash")


def status_transition() -> str:
    """Rule 6: pending -> posted | archived only; posted and archived are final."""
    return _tx_rule(
        "tx_key, first_line AS line, "
        "CASE WHEN existing_status = 'posted' THEN 'immutable_posted' ELSE 'invalid_status_transition' END "
        "AS reason_code, 'transaction ' || tx_key || ' is ' || COALESCE(existing_status, 'new') "
        "|| ' and cannot become ' || status AS detail",
        "n_statuses = 1 AND ((existing_id IS NULL AND status = 'archived') OR "
        "(existing_id IS NOT NULL AND existing_hash = payload_hash AND status <> existing_status "
        "AND NOT (existing_status = 'pending' AND status IN ('posted', 'archived'))))")


def _n(digits: str) -> str:
    """A NUMERIC(38,0) constant, typed the same on both engines."""
    return f"CAST('{digits}' AS NUMERIC(38,0))"


def _high(amount: str) -> str:
    """``amount // 10^19`` of a non-negative integer, read from its text so that neither engine divides."""
    text = f"CAST({amount} AS TEXT)"
    return f"CAST(COALESCE(NULLIF(left({text}, greatest(length({text}) - 19, 0)), ''), '0') AS NUMERIC(38,0))"


def _low(amount: str) -> str:
    """``amount % 10^19`` of a non-negative integer (see ``_high``)."""
    return f"CAST(right(CAST({amount} AS TEXT), 19) AS NUMERIC(38,0))"


# a stored balance row with 38 digits on a side: one more unit could overflow it
_BIG_BALANCE = f"pending_debits > {_n('9' * 37)} OR pending_credits > {_n('9' * 37)}"


def balance_overflow(per_row: bool = False) -> str:
    """Rule 3: a transaction whose per-currency sum of debits or of credits, or whose entries added to an
    account's stored balance, would pass 38 digits (NUMERIC(38,0)) is refused alone (its neighbours post).

    The sums are taken exactly in two halves, ``amount = hi * 10^19 + lo``, that cannot overflow, and only
    for the transactions that could overflow at all: one with an amount of 29 digits or more, or one on an
    account whose stored balance has 38 digits, picked out once (``candidate_entries``). This runs before the other rules, whose sums exclude the
    transactions it refuses. Transactions that fit alone but together would take one balance past 38
    digits still refuse the whole write (``pipeline.overflow_refused``).

    ``per_row`` (``StoreEngine.looks_up_accounts_per_row``): the stored balances of the staged entries'
    accounts are looked up entry by entry, by index, instead of picking every account whose balance has 38
    digits out of the whole table, which a single write would scan on every call."""
    # per row: a scalar subquery, which PostgreSQL runs for each entry (an EXISTS it may run as a hashed scan
    # of the whole table when it takes the staging table for hundreds of rows)
    near_limit = (
        "(SELECT 1 FROM ledger_account_balances b WHERE b.ledger_account_id = batch_entries.ledger_account_id "
        f"AND ({_BIG_BALANCE})) IS NOT NULL" if per_row else
        f"ledger_account_id IN (SELECT ledger_account_id FROM ledger_account_balances WHERE {_BIG_BALANCE})"
    )
    candidates = f"tx_key IN (SELECT tx_key FROM batch_entries WHERE amount > {_n('9' * 28)} OR {near_limit})"
    entries = ("SELECT tx_key, line, direction, currency, ledger_account_id, amount FROM batch_entries "
               f"WHERE amount IS NOT NULL AND direction IN ('debit', 'credit') AND {candidates}")
    account = "'account ' || e.ledger_account_id || ' ' || e.direction || ' balance'"
    stored = "CASE WHEN a.direction = 'debit' THEN b.pending_debits ELSE b.pending_credits END"
    return f"""
WITH candidate_entries AS MATERIALIZED ({entries})
SELECT tx_key, min(line) AS line, 'balance_overflow' AS reason_code,
       'transaction ' || tx_key || ' would take ' || min(what) || ' past 38 digits (NUMERIC(38,0))' AS detail
FROM (
    SELECT tx_key, line, what, hi + {_high('lo')} AS hi
    FROM (
        SELECT tx_key, min(line) AS line, what, sum(hi) AS hi, sum(lo) AS lo
        FROM (
            SELECT e.tx_key, e.line, 'its ' || e.currency || ' ' || e.direction || 's' AS what,
                   {_high('e.amount')} AS hi, {_low('e.amount')} AS lo
            FROM candidate_entries e
            UNION ALL
            SELECT e.tx_key, e.line, {account} AS what, {_high('e.amount')} AS hi, {_low('e.amount')} AS lo
            FROM candidate_entries e WHERE e.ledger_account_id IS NOT NULL
            UNION ALL
            SELECT a.tx_key, a.line, a.what, {_high(stored)} AS hi, {_low(stored)} AS lo
            FROM (SELECT e.tx_key, min(e.line) AS line, e.direction, e.ledger_account_id, {account} AS what
                  FROM candidate_entries e WHERE e.ledger_account_id IS NOT NULL
                  GROUP BY e.tx_key, e.direction, e.ledger_account_id) a
            JOIN ledger_account_balances b ON b.ledger_account_id = a.ledger_account_id
        ) parts
        GROUP BY tx_key, what
    ) g
) t
WHERE hi >= {_n('1' + '0' * 19)}
GROUP BY tx_key
"""


def overflow_possible() -> str:
    """Whether ``balance_overflow`` can refuse anything in the staged batch, read without a pass over its
    entries: only a transaction with an amount of 29 digits or more (whose staged ``imbalance`` is then
    NULL, ``staging.SMALL_AMOUNT``) or an account whose stored balance has 38 digits can overflow. A clean
    batch has neither, and the rule itself (a scan of every staged entry for candidates) is then skipped."""
    return (f"SELECT EXISTS (SELECT 1 FROM batch_txs WHERE imbalance IS NULL) "
            f"OR EXISTS (SELECT 1 FROM ledger_account_balances WHERE {_BIG_BALANCE})")


def reversal_target() -> str:
    """Rule 6: a new transaction's ``reverses_id`` names a stored transaction (``unknown_reversal_target``)
    that no other transaction reverses yet, stored or earlier in the batch (``already_reversed``). The same
    reversal submitted again is a no-op, not a second reversal."""
    new = "b.reverses_id IS NOT NULL AND b.existing_id IS NULL"
    return (
        "SELECT b.tx_key, b.first_line AS line, 'unknown_reversal_target' AS reason_code, "
        "'transaction ' || b.tx_key || ' reverses ' || b.reverses_id || ', which is no transaction' AS detail "
        f"FROM batch_txs b WHERE {new} "
        "AND NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.id = b.reverses_tx_id) "
        "UNION ALL "
        "SELECT b.tx_key, b.first_line AS line, 'already_reversed' AS reason_code, "
        "'transaction ' || b.tx_key || ' reverses ' || b.reverses_id || ', which is already reversed' AS detail "
        f"FROM batch_txs b WHERE {new} "
        "AND (EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.reverses_id = b.reverses_tx_id) "
        "OR EXISTS (SELECT 1 FROM batch_txs o WHERE o.reverses_tx_id = b.reverses_tx_id AND o.existing_id IS NULL "
        "AND o.first_line < b.first_line))"
    )


RULES: tuple[Rule, ...] = (
    Rule("required_fields", 1, required_fields),
    Rule("valid_text", 1, valid_text),
    Rule("valid_external_id", 1, valid_external_id),
    Rule("valid_metadata", 1, valid_metadata),
    Rule("valid_direction", 1, valid_direction),
    Rule("valid_effective_at", 1, valid_effective_at),
    Rule("enough_entries", 1, enough_entries),
    Rule("both_sides", 1, both_sides),
    Rule("consistent_header", 1, consistent_header),
    Rule("one_group_per_transaction", 1, one_group_per_transaction),
    Rule("balanced_per_currency", 2, balanced_per_currency),
    Rule("positive_exact_amounts", 3, positive_exact_amounts),
    Rule("ledger_exists", 4, ledger_exists),
    Rule("account_exists", 4, account_exists),
    Rule("account_unambiguous", 4, account_unambiguous),
    Rule("account_open", 4, account_open),
    Rule("account_currency", 4, account_currency),
    Rule("unique_external_id", 5, unique_external_id),
    Rule("valid_status", 6, valid_status),
    Rule("status_transition", 6, status_transition),
    Rule("reversal_target", 6, reversal_target),
)


@functools.lru_cache(maxsize=1)  # built once: the registry is fixed
def violations_sql() -> str:
    """All rules of the registry as one statement. The rules that test each row of a staged relation alone
    read that relation once between them: the entries that break any of them are picked out first
    (``suspect_entries``), and so are the transactions (``suspect_txs``), both empty in a clean batch, and
    each of those rules reads only them; PostgreSQL would scan the whole relation once per rule. The other
    rules read the staged batch themselves."""
    rules = [rule.sql() for rule in RULES]
    suspects = {"batch_entries": "suspect_entries", "batch_txs": "suspect_txs"}
    ctes = []
    for relation, name in suspects.items():
        suspect = " OR ".join(f"({sql.condition})" for sql in rules
                              if isinstance(sql, _OverRows) and sql.relation == relation)
        ctes.append(f"{name} AS MATERIALIZED (SELECT * FROM {relation} WHERE {suspect})")
    parts = [sql.over(suspects[sql.relation]) if isinstance(sql, _OverRows) else sql for sql in rules]
    return f"WITH {', '.join(ctes)}\n" + "\nUNION ALL\n".join(f"({part})" for part in parts)


# Rule 7. The available balance moves by ``avail_delta`` for each accepted write (see staging.LIMIT_DELTAS);
# the running balance is taken in batch order (effective_at, then input line) from the stored balance.
# A write is refused where the running balance breaks a limit *and* the write moves the balance further
# past it. The caller repeats the check until nothing new is refused.
#
# Batch order is the order of acceptance, as if the writes came one at a time: each pass refuses only the
# *first* such write per account, so a later write that fits once the earlier one is refused is accepted
# (balance 100, spends of 150 then 50: the 150 is refused, the 50 posts). After ``LIMIT_EXACT_PASSES``
# passes (a batch with many overdrafts on one account) every write that breaks the limit is refused at
# once: never an overdraft, but possibly a refusal that the one-at-a-time order would have accepted.
LIMIT_EXACT_PASSES = 25

_LIMIT_VIOLATIONS = """
SELECT tx_key, first_line AS line, 'balance_limit_exceeded' AS reason_code,
       'transaction ' || tx_key || ' would take account ' || account_name || ' available balance to '
       || CAST(running AS TEXT) || ' (limit ' || CASE WHEN min_available_balance IS NOT NULL
       AND running < min_available_balance THEN '>= ' || CAST(min_available_balance AS TEXT)
       ELSE '<= ' || CAST(max_available_balance AS TEXT) END || ')' AS detail
FROM (
    SELECT r.*, row_number() OVER (PARTITION BY r.ledger_account_id ORDER BY r.effective_at, r.first_line) AS nth
    FROM (
        SELECT d.*, b.available + sum(d.avail_delta) OVER (
            PARTITION BY d.ledger_account_id ORDER BY d.effective_at, d.first_line
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
        FROM limit_deltas d
        __AVAILABLE__
        WHERE d.tx_key NOT IN (SELECT tx_key FROM batch_violations)
    ) r
    WHERE (min_available_balance IS NOT NULL AND running < min_available_balance AND avail_delta < 0)
       OR (max_available_balance IS NOT NULL AND running > max_available_balance AND avail_delta > 0)
) v
WHERE __FIRST_ONLY__
"""


_AVAILABLE = """
SELECT ab.ledger_account_id,
       CASE WHEN a.normal_balance = 'credit' THEN ab.posted_credits - ab.pending_debits
            ELSE ab.posted_debits - ab.pending_credits END AS available
FROM ledger_account_balances ab JOIN ledger_accounts a ON a.id = ab.ledger_account_id"""


def limit_violations_sql(first_only: bool = True, per_row: bool = False) -> str:
    """Rule 7's violations: the first per account (exact batch order) or all at once (see above).

    ``per_row`` (``StoreEngine.looks_up_accounts_per_row``): each limited account's stored balance is
    looked up by index; otherwise the deltas join every account's, which suits a batch but made a single
    write read the whole balance and account tables."""
    # OFFSET 0 keeps the lateral subquery a subquery (run for each delta), not a join planned for every row
    available = (f"CROSS JOIN LATERAL ({_AVAILABLE} WHERE ab.ledger_account_id = d.ledger_account_id OFFSET 0) b"
                 if per_row else f"JOIN ({_AVAILABLE}) b ON b.ledger_account_id = d.ledger_account_id")
    return (_LIMIT_VIOLATIONS.replace("__AVAILABLE__", available)
            .replace("__FIRST_ONLY__", "nth = 1" if first_only else "1 = 1"))

