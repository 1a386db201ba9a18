"""Staging of a proposed batch: the raw rows as given, then normalised entries and per-transaction
aggregates that the rules in ``rules.py`` read. Bulk posts and single-transaction writes go through the
same relations and the same statements, so both paths enforce exactly the same rules.

Input columns (``RAW_COLUMNS``, all text as given, so no value is ever rounded on the way in):

=================  ==========================================================================
``external_id``    the transaction's idempotency key; entries with the same one form a transaction
``ledger``         ledger name (default: the ``default_ledger`` argument, ``main``)
``account``        ledger account name (or id) in that ledger
``direction``      ``debit`` | ``credit``
``amount``         decimal in major units (``12.34``), scaled exactly by the account's exponent
``amount_minor``   or an integer of minor units (``1234``); one of the two is required
``currency``       optional; when given it must equal the account's currency
``effective_at``   ISO 8601 date or timestamp, UTC unless it carries ``Z`` or an offset (default: now);
                   words PostgreSQL would read (``now``, ``yesterday``, ``epoch``) are refused, so a batch
                   means the same on both engines and when replayed later
``status``         ``posted`` (default) | ``pending``
=================  ==========================================================================

plus optional ``description``, ``metadata`` (a JSON object as text), ``source``, ``ledgerable_type``,
``ledgerable_id``, ``reverses_id``. ``line`` and ``record_ref`` locate each row in its input for errors.
"""

from __future__ import annotations

import functools
import re

from ledger_pipeline.ledger.ids import uuid_or_null
from ledger_pipeline.ledger.store import Connection

RAW_COLUMNS: tuple[str, ...] = (
    "external_id", "ledger", "account", "direction", "amount", "amount_minor", "currency", "effective_at",
    "status", "description", "metadata", "source", "ledgerable_type", "ledgerable_id", "reverses_id",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("external_id", "account", "direction")

# ``effective_at_ts`` carries a typed timestamp column as is (Parquet/Arrow input), sparing a text round trip.
STAGE_RAW_DDL = (
    "line BIGINT, record_ref TEXT, quarantine_id TEXT, effective_at_ts TIMESTAMPTZ, "
    + ", ".join(f"{c} TEXT" for c in RAW_COLUMNS)
)

_TEMP_TABLES: dict[str, str] = {
    "stage_raw": STAGE_RAW_DDL,
    "stage_source": "record_ref_prefix TEXT",  # at most one row: see ``record_ref_sql``
    "batch_entries": """line BIGINT, record_ref TEXT, quarantine_id TEXT, tx_key TEXT, external_id TEXT,
        ledger_name TEXT, ledger_id UUID, account_ref TEXT, ledger_account_id UUID, account_currency TEXT,
        exponent INTEGER, account_archived BOOLEAN,
        direction TEXT, currency TEXT, status TEXT, effective_at TIMESTAMPTZ, effective_at_text TEXT,
        amount_text TEXT, amount_error TEXT, amount NUMERIC(38,0), description TEXT, metadata TEXT,
        source TEXT, ledgerable_type TEXT, ledgerable_id TEXT, reverses_id TEXT, account_ambiguous BOOLEAN,
        metadata_invalid BOOLEAN""",
    "batch_txs": """tx_key TEXT, external_id TEXT, ledger_name TEXT, ledger_id UUID, status TEXT,
        effective_at TIMESTAMPTZ, description TEXT, metadata TEXT, source TEXT, ledgerable_type TEXT,
        ledgerable_id TEXT, reverses_id TEXT, reverses_tx_id UUID, quarantine_id TEXT, n_entries BIGINT, n_debits BIGINT,
        n_credits BIGINT, n_ledgers BIGINT, n_statuses BIGINT, n_effective BIGINT, n_descriptions BIGINT,
        n_metadata BIGINT, first_line BIGINT, last_line BIGINT, imbalance NUMERIC(38,0), payload_hash TEXT, new_id UUID,
        existing_id UUID, existing_status TEXT, existing_hash TEXT, action TEXT""",
    "batch_violations": "tx_key TEXT, line BIGINT, reason_code TEXT, detail TEXT",
    "limit_deltas": """tx_key TEXT, first_line BIGINT, effective_at TIMESTAMPTZ, ledger_account_id UUID,
        account_name TEXT, min_available_balance NUMERIC(38,0), max_available_balance NUMERIC(38,0),
        avail_delta NUMERIC(38,0)""",
}


#: a writer's connection keeps its staged rows past commit and deletes them at its next write; every this
#: many writes it truncates them instead, so the deleted rows' pages (temporary tables are never vacuumed)
#: stay bounded
TRUNCATE_STAGING_EVERY = 1000


def record_ref_sql(row: str = "", *, default_prefix: str = "record ") -> str:
    """SQL for a staged row's reference in errors and quarantine: its ``record_ref`` as given, else its line
    after the batch's prefix (the one row of ``stage_source``: ``<file name>:`` for a file), else after
    ``default_prefix``. A file's references are not materialised per row (a million-transaction batch staged
    and copied ~1 s slower with them): only the rows that break a rule or go to quarantine build theirs.
    ``row``: the alias of the row's relation (with ``record_ref`` and ``line`` columns), if any."""
    p = f"{row}." if row else ""
    return (f"COALESCE({p}record_ref, COALESCE((SELECT record_ref_prefix FROM stage_source), '{default_prefix}') "
            f"|| CAST({p}line AS TEXT))")


def stage_record_ref_prefix(conn: Connection, prefix: str | None) -> None:
    """Name the staged batch's rows that carry no ``record_ref``: ``<prefix><line>`` (``record_ref_sql``)."""
    if prefix is not None:
        conn.execute("INSERT INTO stage_source (record_ref_prefix) VALUES (:prefix)", {"prefix": prefix})


def reset_staging(conn: Connection, *, new_transaction: bool = False, writer: bool = False) -> None:
    """Create the staging tables for this connection if needed and make sure they are empty.

    ``new_transaction``: the caller has just begun the database transaction the pipeline runs in. A
    ``writer`` connection (``LedgerWriter``: many small writes) keeps its staged rows past commit and
    deletes them at its next write. How the tables are created and emptied is the engine's business
    (``StoreEngine.reset_staging``); inside the caller's ``conn.pipelined()`` block this costs no round trip
    of its own on PostgreSQL.
    """
    conn.engine.reset_staging(conn, _TEMP_TABLES, new_transaction=new_transaction, writer=writer,
                              truncate_every=TRUNCATE_STAGING_EVERY)


def create_helper_functions(conn: Connection) -> None:
    """``try_timestamptz(text)``: NULL instead of an error for text that is not a timestamp."""
    conn.execute(conn.engine.helper_functions_sql)


# An account reference is an account's id or its name in the row's ledger: one row per (ledger, key) with
# the number of accounts it names, so a row is never joined twice; a reference that is one account's id and
# another's name names two, resolves to none and is refused (``account_ambiguous``: rule 4). Where the
# engine says so (``StoreEngine.account_keys_of_batch_only``), only the keys the batch names are read: a
# single write to a PostgreSQL store of a thousand accounts spent most of its database time grouping and
# sorting every account's id and name. The groups of the keys the join can match are the same either way.
_STAGED_REFS = "SELECT ref FROM refs"
_STAGED_REF_IDS = "SELECT ref_id FROM refs"
_ACCOUNT_KEYS = """(
    __REFS__SELECT ledger_id, account_key, CAST(min(CAST(id AS TEXT)) AS UUID) AS id,
        count(DISTINCT id) AS accounts FROM (
        SELECT ledger_id, CAST(id AS TEXT) AS account_key, id FROM ledger_accounts__BY_ID__
        UNION ALL
        SELECT ledger_id, name AS account_key, id FROM ledger_accounts__BY_NAME__
    ) keys GROUP BY ledger_id, account_key
)"""


# The same lookup row by row, for a single write (``StoreEngine.looks_up_accounts_per_row``): the accounts
# a row names by id and by name in its ledger, by index. The set-based join above made a single write on
# PostgreSQL scan and hash every account, because the planner takes the staging tables for hundreds of rows.
_ACCOUNT_KEYS_PER_ROW = """LEFT JOIN LATERAL (
    SELECT CAST(min(CAST(id AS TEXT)) AS UUID) AS id, count(DISTINCT id) AS accounts FROM (
        SELECT id FROM ledger_accounts WHERE ledger_id = l.id AND id = __REF_ID__
        UNION ALL
        SELECT id FROM ledger_accounts WHERE ledger_id = l.id AND name = r.account_ref
    ) keys
) k ON true"""


def _account_keys(batch_only: bool) -> str:
    """The keys; ``batch_only``: of the references the batch makes, read from ``stage_raw`` once."""
    refs = ("WITH refs AS MATERIALIZED (SELECT ref, " + uuid_or_null("ref") + " AS ref_id "
            "FROM (SELECT DISTINCT NULLIF(trim(account), '') AS ref FROM stage_raw) s)\n    ")
    return (_ACCOUNT_KEYS.replace("__REFS__", refs if batch_only else "")
            .replace("__BY_ID__", f" WHERE id IN ({_STAGED_REF_IDS})" if batch_only else "")
            .replace("__BY_NAME__", f" WHERE name IN ({_STAGED_REFS})" if batch_only else ""))


def _account_keys_join(conn: Connection) -> str:
    if conn.engine.looks_up_accounts_per_row(conn):
        return _ACCOUNT_KEYS_PER_ROW.replace("__REF_ID__", uuid_or_null("r.account_ref"))
    return (f"LEFT JOIN {_account_keys(conn.engine.account_keys_of_batch_only)} k "
            "ON k.ledger_id = l.id AND k.account_key = r.account_ref")


# Amount conversion, exact and in SQL: split the decimal text at the point, refuse more fraction digits
# than the exponent, pad the fraction to the exponent and read the digits as NUMERIC(38,0).
_PREPARE_ENTRIES = rf"""
INSERT INTO batch_entries
SELECT line, record_ref, quarantine_id, tx_key, external_id, ledger_name, ledger_id, account_ref,
       ledger_account_id, account_currency, exponent, account_archived,
       direction, currency, status, effective_at, effective_at_text, amt AS amount_text, amount_error,
       CASE WHEN amount_error IS NULL AND digits IS NOT NULL THEN __DIGITS_TO_NUMERIC__ END AS amount,
       description, COALESCE(metadata_object, metadata) AS metadata, source, ledgerable_type, ledgerable_id,
       reverses_id, account_ambiguous, (metadata_object IS NULL) AS metadata_invalid
FROM (
    SELECT d.*,
        CASE
            WHEN amt IS NULL THEN NULL
            WHEN major_digits IS NOT NULL AND major_digits <> digits THEN 'conflicting_amounts'
            WHEN is_minor THEN CASE
                WHEN amt ~ '^[0-9]+$' THEN CASE
                    WHEN digits = '' THEN 'non_positive_amount'
                    WHEN length(digits) > 38 THEN 'amount_too_large' END
                WHEN amt ~ '^-[0-9]+$' THEN 'non_positive_amount'
                ELSE 'invalid_amount' END
            WHEN amt ~ '^[0-9]+(\.[0-9]*)?$' THEN CASE
                WHEN digits IS NULL THEN NULL
                WHEN length(rtrim(split_part(amt, '.', 2), '0')) > exponent THEN 'excess_precision'
                WHEN digits = '' THEN 'non_positive_amount'
                WHEN length(digits) > 38 THEN 'amount_too_large' END
            WHEN amt ~ '^-[0-9]+(\.[0-9]*)?$' THEN 'non_positive_amount'
            ELSE 'invalid_amount'
        END AS amount_error
    FROM (
        SELECT n.*,
            CASE WHEN amt IS NULL THEN NULL
                 WHEN is_minor THEN ltrim(amt, '0')
                 WHEN exponent IS NULL THEN NULL
                 ELSE ltrim(split_part(amt, '.', 1)
                      || rpad(rtrim(split_part(amt, '.', 2), '0'), exponent, '0'), '0')
            END AS digits,
            CASE WHEN major_also IS NULL OR exponent IS NULL THEN NULL
                 WHEN major_also ~ '^[0-9]+(\.[0-9]*)?$'
                      AND length(rtrim(split_part(major_also, '.', 2), '0')) <= exponent
                 THEN ltrim(split_part(major_also, '.', 1)
                      || rpad(rtrim(split_part(major_also, '.', 2), '0'), exponent, '0'), '0')
                 ELSE '?' END AS major_digits,  -- an amount given beside amount_minor, in minor units
            -- the canonical text of a JSON object, NULL for anything else; most rows carry none ('{{}}')
            CASE WHEN metadata = '{{}}' THEN '{{}}' ELSE __METADATA_OBJECT__ END AS metadata_object
        FROM (
            SELECT r.line,
                r.record_ref, r.quarantine_id,
                -- as given: an id with white space at an end is refused (rule 1), never trimmed into another
                CASE WHEN r.has_external_id THEN r.external_id
                     ELSE '<no external_id at ' || {record_ref_sql('r', default_prefix='')} || '>' END AS tx_key,
                CASE WHEN r.has_external_id THEN r.external_id END AS external_id,
                r.ledger_name, l.id AS ledger_id, r.account_ref,
                a.id AS ledger_account_id, a.currency AS account_currency,
                a.currency_exponent AS exponent,
                (a.archived_at IS NOT NULL) AS account_archived,
                NULLIF(lower(trim(r.direction)), '') AS direction,
                COALESCE(NULLIF(upper(trim(r.currency)), ''), a.currency) AS currency,
                COALESCE(NULLIF(lower(trim(r.status)), ''), 'posted') AS status,
                COALESCE(r.effective_at_ts, CASE
                    WHEN trim(r.effective_at) ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}([T ][0-9:.]+)?(Z|z|[+-][0-9:]+| UTC)?$'
                    THEN try_timestamptz(trim(r.effective_at)) END) AS effective_at,
                r.effective_at AS effective_at_text,  -- only read when the text did not parse
                COALESCE(r.minor_text, r.major_text) AS amt,
                (r.minor_text IS NOT NULL) AS is_minor,
                CASE WHEN r.minor_text IS NOT NULL THEN r.major_text END
                    AS major_also,
                NULLIF(r.description, '') AS description,
                COALESCE(NULLIF(trim(r.metadata), ''), '{{}}') AS metadata,
                NULLIF(r.source, '') AS source, NULLIF(r.ledgerable_type, '') AS ledgerable_type,
                NULLIF(r.ledgerable_id, '') AS ledgerable_id, NULLIF(r.reverses_id, '') AS reverses_id,
                COALESCE(k.accounts > 1, false) AS account_ambiguous
            FROM (
                SELECT s.*, COALESCE(NULLIF(trim(s.ledger), ''), :default_ledger) AS ledger_name,
                       NULLIF(trim(s.account), '') AS account_ref,
                       NULLIF(trim(s.amount_minor), '') AS minor_text, NULLIF(trim(s.amount), '') AS major_text,
                       trim(s.external_id) <> '' AS has_external_id
                FROM stage_raw s__PROJECTION_FENCE__
            ) r
            LEFT JOIN ledgers l ON l.name = r.ledger_name
            __ACCOUNT_KEYS_JOIN__
            LEFT JOIN ledger_accounts a ON a.id = CASE WHEN k.accounts = 1 THEN k.id END  -- ambiguous: none
            __PROJECTION_FENCE__
        ) n__PROJECTION_FENCE__
    ) d__PROJECTION_FENCE__
) x
"""



def prepare_entries_sql(conn: Connection) -> str:
    """``_PREPARE_ENTRIES`` for this engine: digits (validated: at most 38) become NUMERIC(38,0) as the
    engine does it fastest (``StoreEngine.digits_to_numeric``); ``metadata`` that is a JSON object is kept in
    the engine's canonical text (``StoreEngine.metadata_object``), so that payloads differing only in JSON
    whitespace are the same payload, and anything else is flagged (``metadata_invalid``). Each level of the
    statement is fenced (``StoreEngine.projection_fence``), so that every value it computes (a trimmed text,
    the amount's digits, its error, the metadata check) runs once per entry however often the next level
    reads it."""
    return (_PREPARE_ENTRIES.replace("__DIGITS_TO_NUMERIC__", conn.engine.digits_to_numeric)
            .replace("__METADATA_OBJECT__", conn.engine.metadata_object)
            .replace("__PROJECTION_FENCE__", conn.engine.projection_fence)
            .replace("__ACCOUNT_KEYS_JOIN__", _account_keys_join(conn)))


_STAGED_DOCS = "SELECT metadata AS doc FROM batch_entries WHERE NOT metadata_invalid"


def sort_metadata_sql(conn: Connection) -> str | None:
    """The statement that puts the keys of the staged metadata objects in order, at every depth
    (``StoreEngine.sorted_metadata``), after ``prepare_entries_sql``, and refuses one that names a key twice
    in a nested object (``metadata_invalid``); None when the engine's canonical text has them in order, or
    when no staged object may have keys out of order (``StoreEngine.metadata_unsorted``: planning the
    statement costs more than a single write's other steps)."""
    unsorted = conn.engine.metadata_unsorted
    if unsorted is None or not conn.scalar(f"SELECT count(*) FROM ({_STAGED_DOCS}) d WHERE {unsorted}"):
        return None
    query = conn.engine.sorted_metadata(_STAGED_DOCS)
    if query is None:
        return None
    return (f"UPDATE batch_entries SET metadata = CASE WHEN s.duplicated THEN batch_entries.metadata ELSE s.sorted "
            f"END, metadata_invalid = s.duplicated FROM ({query}) s "
            "WHERE batch_entries.metadata = s.doc AND NOT batch_entries.metadata_invalid")


# ``imbalance``: a transaction's debits minus its credits, where that alone decides the double-entry rule
# (``rules.balanced_per_currency``): every entry is a debit or a credit with a known amount of at most
# ``SMALL_AMOUNT`` (so the sum fits NUMERIC(38,0) on both engines) in one known currency; NULL otherwise.
# Computed with the other per-transaction aggregates, it spares the rule a grouping of every entry by
# transaction and currency; the rule groups only the transactions it leaves undecided.
#
# The payload hash covers what makes two submissions "the same transaction": ledger, effective time,
# description, metadata and the multiset of (account, direction, amount, currency). Status is left out so
# that a pending transaction submitted again as posted is a transition, not a conflict. An omitted
# effective_at means "the existing transaction's, else now", so a resubmission without it is a no-op.
#
# Transaction-level fields (ledger, status, effective_at, description, metadata, source, ledgerable_*,
# reverses_id) are read from the transaction's first row; other rows may repeat them or leave them empty,
# but must not disagree on ledger, status, effective_at, description or metadata (rule 1).
#
# The hash is versioned (``payload_hash_sql``); new writes store their engine's current version
# (``StoreEngine.payload_hash_version``). Engine-specific parts: each entry's value and their aggregate
# (``entry_sql``, ``entries_aggregate``) and whether the rows agree (``values_differ``).
_PREPARE_TXS = """
INSERT INTO batch_txs
SELECT g.tx_key, h.external_id, h.ledger_name, h.ledger_id, h.status,
    COALESCE(h.effective_at, t.effective_at, CAST(:batch_time AS TIMESTAMPTZ)) AS effective_at,
    h.description, h.metadata, h.source, h.ledgerable_type, h.ledgerable_id, h.reverses_id,
    __REVERSES_TX_ID__ AS reverses_tx_id, h.quarantine_id,
    g.n_entries, g.n_debits, g.n_credits, g.n_ledgers, g.n_statuses, g.n_effective, g.n_descriptions,
    g.n_metadata, g.first_line, g.last_line, g.imbalance,
    __PAYLOAD_HASH__ AS payload_hash,
    __NEW_TX_ID__ AS new_id,
    t.id AS existing_id, t.status AS existing_status, t.payload_hash AS existing_hash,
    CASE WHEN t.id IS NULL THEN 'create' WHEN t.status = h.status THEN 'noop' ELSE 'transition' END AS action
FROM (
    SELECT tx_key, count(*) AS n_entries,
        count(*) FILTER (WHERE direction = 'debit') AS n_debits,
        count(*) FILTER (WHERE direction = 'credit') AS n_credits,
        __DIFFERS__(ledger_name) AS n_ledgers, __DIFFERS__(status) AS n_statuses,
        CASE WHEN min(effective_at) <> max(effective_at) THEN 2 ELSE 1 END AS n_effective,
        __DIFFERS__(description) AS n_descriptions, __DIFFERS__(metadata) AS n_metadata,
        min(line) AS first_line, max(line) AS last_line,
        CASE WHEN count(signed_amount) = count(*) AND min(currency) = max(currency) THEN sum(signed_amount) END
            AS imbalance,
        __ENTRIES__ AS entries
    FROM (
        SELECT tx_key, line, direction, ledger_name, status, effective_at, description, metadata, currency,
            CASE WHEN currency IS NOT NULL AND amount <= __SMALL_AMOUNT__ THEN CASE direction
                WHEN 'debit' THEN amount WHEN 'credit' THEN -amount END END AS signed_amount,
            __ENTRY__ AS entry
        FROM batch_entries
    ) e
    GROUP BY tx_key
) g
JOIN batch_entries h ON h.tx_key = g.tx_key AND h.line = g.first_line
LEFT JOIN ledger_transactions t ON t.ledger_id = h.ledger_id AND t.external_id = h.external_id
"""


#: the largest amount whose transaction's ``imbalance`` is summed while staging: 28 digits, so that a sum of
#: up to 2**32 of them (a batch's lines) stays within 38
SMALL_AMOUNT = "9" * 28

#: the versions of the payload hash (``payload_hash_sql``); new writes store their engine's
#: (``StoreEngine.payload_hash_version``), as ``v<version>:<md5 hex>``
PAYLOAD_HASH_VERSIONS = (1, 2, 3)

# An entry's text in versions 1 and 2: ``account:direction:amount:currency``, the account's id where it
# resolved (named by id or by name, one account) and the amount in minor units where it was valid
_ENTRY_TEXT = ("COALESCE(CAST({account_id} AS TEXT), {account_ref}, '?') || ':' || COALESCE({direction}, '?') || ':' "
               "|| COALESCE(CAST({amount} AS TEXT), {amount_text}, '?') || ':' || COALESCE({currency}, '?')")


def hash_version(conn: Connection, version: int | None = None) -> int:
    """``version``, or the one the engine's new writes store; a version that does not exist is an error."""
    version = conn.engine.payload_hash_version if version is None else version
    if version not in PAYLOAD_HASH_VERSIONS:
        raise ValueError(f"payload hash version {version}: the versions are {PAYLOAD_HASH_VERSIONS}")
    return version


def entry_sql(conn: Connection, version: int | None = None, *, account_id: str, account_ref: str,
              direction: str, amount: str, amount_text: str, currency: str) -> str:
    """SQL of one entry's ``entry`` value, which ``entries_aggregate`` aggregates in ``version`` (default: the
    engine's current), from SQL of its fields: ``account_ref`` and ``amount_text`` (as given) count only
    where ``account_id`` and ``amount`` are NULL."""
    template = conn.engine.entry_value_v3 if hash_version(conn, version) == 3 else _ENTRY_TEXT
    return template.format(account_id=account_id, account_ref=account_ref, direction=direction, amount=amount,
                           amount_text=amount_text, currency=currency)


def entries_aggregate(conn: Connection, version: int | None = None) -> str:
    """SQL aggregate of a transaction's ``entry`` values (``entry_sql``) that ``payload_hash_sql`` hashes in
    ``version`` (default: the engine's current)."""
    version = hash_version(conn, version)
    if version == 1:
        return conn.engine.entries_signature_v1
    if version == 2:
        return conn.engine.sorted_entries
    return conn.engine.entries_signature_v3


def payload_hash_sql(*, ledger: str, effective_at: str, description: str, metadata: str, entries: str,
                     version: int) -> str:
    """SQL of a transaction's payload hash from SQL of its fields; ``entries``: ``entries_aggregate``'s
    value in the same ``version``.

    Version 3 (stored as ``v3:<md5 hex>``, every write now): as version 2, with the entries' text replaced
    by the count and sum of the engine's 64-bit hash of each entry's typed fields
    (``StoreEngine.entry_value_v3``), which does not depend on their order: no text, md5 or sort per entry.
    Engine-specific, as version 1 was (a store is one engine), and it may change with an engine release: a
    stored hash that differs is computed again (below), so neither can make the same content a conflict.

    Version 2 (stored as ``v2:<md5 hex>``, by stores written before version 3): the md5 of
    one text per transaction, ledger name and description after their lengths (a ``|`` in them cannot move
    a field into the next), then effective time, metadata and the entries sorted bytewise and joined by
    ``,``. No hash per entry, and only md5 and a sort: the same on every engine release and on both engines
    for the same text.

    Version 1 (stored without a prefix, by stores written before version 2): the md5 of ledger, effective
    time, description, metadata and the engine's own signature of the entries (DuckDB's summed an md5 per
    entry). Stored rows keep their version; a resubmission whose hash differs from the stored one has the
    stored transaction's hash computed again, in the current version, from its stored fields
    (``stored_hash_sql``), so the same content still matches.
    """
    effective = f"CAST({effective_at} AS TEXT)"
    described = f"COALESCE({description}, '')"
    if version not in PAYLOAD_HASH_VERSIONS:
        raise ValueError(f"payload hash version {version}: the versions are {PAYLOAD_HASH_VERSIONS}")
    if version == 1:
        return f"md5({ledger} || '|' || {effective} || '|' || {described} || '|' || {metadata} || '|' || {entries})"
    return (f"'v{version}:' || md5(CAST(length({ledger}) AS TEXT) || ':' || {ledger} || '|' || {effective} "
            f"|| '|' || CAST(length({described}) AS TEXT) || ':' || {described} || '|' || {metadata} "
            f"|| '|' || {entries})")


def prepare_txs_sql(conn: Connection, *, version: int | None = None) -> str:
    """``_PREPARE_TXS`` for this engine (see the comment above it); its hashes in ``version`` (default: the
    engine's current; an older one only writes rows as an older release stored them, for tests)."""
    engine, version = conn.engine, hash_version(conn, version)
    entry = entry_sql(conn, version, account_id="ledger_account_id", account_ref="account_ref",
                      direction="direction", amount="amount", amount_text="amount_text", currency="currency")
    return _prepare_txs_sql(engine.values_differ, entry, entries_aggregate(conn, version),
                            engine.id_sql("tx_id_prefix", "g.first_line"), version)  # lines are unique


@functools.lru_cache(maxsize=8)  # built once per engine: every write runs it
def _prepare_txs_sql(differs: str, entry: str, entries: str, new_id: str, version: int) -> str:
    sql = re.sub(r"__DIFFERS__\((\w+)\)", differs, _PREPARE_TXS)
    payload_hash = payload_hash_sql(
        ledger="h.ledger_name", effective_at="COALESCE(h.effective_at, t.effective_at, CAST(:batch_time AS TIMESTAMPTZ))",
        description="h.description", metadata="h.metadata", entries="g.entries", version=version)
    return (sql.replace("__ENTRY__", entry).replace("__ENTRIES__", entries).replace("__PAYLOAD_HASH__", payload_hash)
            .replace("__SMALL_AMOUNT__", f"CAST('{SMALL_AMOUNT}' AS NUMERIC(38,0))")
            .replace("__NEW_TX_ID__", new_id).replace("__REVERSES_TX_ID__", uuid_or_null("h.reverses_id")))


# A transaction stored before its payload was canonicalised (metadata in the text it was given, other JSON
# whitespace or key order), or with an older version of the payload hash (``payload_hash_sql``), has a hash
# the same content submitted again would not have: it would be refused as a conflict. When the hashes
# differ, the stored transaction's hash is computed again, as ``_PREPARE_TXS`` computes a batch's (current
# version), from its stored fields with the metadata in the engine's canonical text
# (``StoreEngine.metadata_object``); only the transactions whose hashes differ are read. The stored row
# keeps its hash as written.
_STORED_HASH = """
UPDATE batch_txs SET existing_hash = s.stored_hash
FROM (
    SELECT t.id, __PAYLOAD_HASH__ AS stored_hash
    FROM ledger_transactions t
    JOIN ledgers l ON l.id = t.ledger_id
    JOIN (SELECT id, __METADATA_OBJECT__ AS metadata_canonical
          FROM (SELECT id, metadata FROM ledger_transactions WHERE id IN (__DIFFERING__)) x) m ON m.id = t.id
    __SORTED_JOIN__
    JOIN (SELECT ledger_transaction_id, __ENTRIES__ AS entries
          FROM (SELECT ledger_transaction_id, __ENTRY__ AS entry
                FROM ledger_entries WHERE ledger_transaction_id IN (__DIFFERING__)) y
          GROUP BY ledger_transaction_id) e ON e.ledger_transaction_id = t.id
) s
WHERE batch_txs.existing_id = s.id AND batch_txs.existing_hash <> batch_txs.payload_hash
"""


def stored_hash_sql(conn: Connection) -> str | None:
    """``_STORED_HASH`` for this engine; None when no transaction of the batch has a differing hash."""
    if not conn.scalar("SELECT count(*) FROM batch_txs WHERE existing_id IS NOT NULL "
                       "AND existing_hash <> payload_hash"):
        return None
    differing = "SELECT existing_id FROM batch_txs WHERE existing_hash <> payload_hash"
    canonical = (f"SELECT {conn.engine.metadata_object} AS doc "
                 "FROM (SELECT metadata FROM ledger_transactions WHERE id IN (__DIFFERING__)) x")
    sorted_query = conn.engine.sorted_metadata(canonical)
    sorted_join = "" if sorted_query is None else f"LEFT JOIN ({sorted_query}) k ON k.doc = m.metadata_canonical"
    metadata = ("COALESCE(m.metadata_canonical, t.metadata)" if sorted_query is None
                else "COALESCE(k.sorted, m.metadata_canonical, t.metadata)")
    version = hash_version(conn)  # the engine's current one, as the batch's hashes
    stored_hash = payload_hash_sql(ledger="l.name", effective_at="t.effective_at", description="t.description",
                                   metadata=metadata, entries="e.entries", version=version)
    entry = entry_sql(conn, version, account_id="ledger_account_id", account_ref="CAST(NULL AS TEXT)", direction="direction",
                      amount="amount", amount_text="CAST(NULL AS TEXT)", currency="currency")
    return (_STORED_HASH.replace("__SORTED_JOIN__", sorted_join).replace("__ENTRY__", entry)
            .replace("__METADATA_OBJECT__", conn.engine.metadata_object)
            .replace("__PAYLOAD_HASH__", stored_hash).replace("__ENTRIES__", entries_aggregate(conn, version))
            .replace("__DIFFERING__", differing))


# Each transaction's action is set as it is staged (``_PREPARE_TXS``: create, noop or transition); the rules'
# violators then become rejects. Only those rows are updated, not every staged transaction's (a full pass
# that rewrote each row of a bulk post's batch).
REJECT_NEW_VIOLATORS = """
UPDATE batch_txs SET action = 'reject'
WHERE action <> 'reject' AND tx_key IN (SELECT tx_key FROM batch_violations)
"""

# Rule 7 input: how each accepted write moves each limited account's available balance.
# Inflows (the account's normal side) count once posted; outflows count as soon as they are pending.
LIMIT_DELTAS = """
INSERT INTO limit_deltas
SELECT e.tx_key, t.first_line, t.effective_at, e.ledger_account_id, a.name, a.min_available_balance,
       a.max_available_balance,
       sum(CASE WHEN e.direction = a.normal_balance
                THEN CASE WHEN t.status = 'posted' THEN e.amount ELSE 0 END
                ELSE CASE WHEN t.action = 'create' THEN -e.amount WHEN t.status = 'archived' THEN e.amount ELSE 0 END
           END) AS avail_delta
FROM batch_entries e
JOIN batch_txs t ON t.tx_key = e.tx_key
JOIN ledger_accounts a ON a.id = e.ledger_account_id
WHERE t.action IN ('create', 'transition')
  AND (a.min_available_balance IS NOT NULL OR a.max_available_balance IS NOT NULL)
GROUP BY e.tx_key, t.first_line, t.effective_at, e.ledger_account_id, a.name, a.min_available_balance,
         a.max_available_balance
"""

# PostgreSQL: lock the balance rows that accepted writes will move, in id order; says which have a limit.
# The entries of the transactions not accepted are left out by an anti join against those few, rather than
# joining every staged entry to its transaction (a hash of a million transactions in a bulk post).
LOCK_BALANCES = """
SELECT b.ledger_account_id,
       (a.min_available_balance IS NOT NULL OR a.max_available_balance IS NOT NULL) AS limited
FROM ledger_account_balances b JOIN ledger_accounts a ON a.id = b.ledger_account_id
WHERE b.ledger_account_id IN (
    SELECT e.ledger_account_id FROM batch_entries e
    WHERE NOT EXISTS (SELECT 1 FROM batch_txs t
                      WHERE t.tx_key = e.tx_key AND t.action NOT IN ('create', 'transition')))
ORDER BY b.ledger_account_id FOR UPDATE OF b
"""

STALE_TRANSITIONS = """
SELECT count(*) FROM batch_txs b
LEFT JOIN ledger_transactions t ON t.id = b.existing_id
WHERE b.action = 'transition' AND (t.status IS NULL OR t.status <> b.existing_status)
"""
