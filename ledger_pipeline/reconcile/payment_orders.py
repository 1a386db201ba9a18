"""Payment orders and their default ledgering (Modern Treasury's seed behaviour).

A payment order moves money between an internal account (``originating_account_id``) and an external one
(``receiving_account_id``). ``direction`` is Modern Treasury's: ``credit`` pushes money out of the internal
account, ``debit`` pulls money into it.

Default ledgering: a payment order whose two accounts are both linked to ledger accounts (in the same
ledger) and that carries no ledger transaction gets one, with ``external_id`` ``payment_order:<id>``:

* money in (``debit``): debit the internal account's ledger account, credit the external one's;
* money out (``credit``): the reverse;
* the ledger transaction's status follows the payment order's: ``pending`` while it is not final
  (``needs_approval``, ``approved``, ``pending``, ``processing``, ``sent``), ``posted`` when ``completed``,
  ``archived`` when ``failed``, ``cancelled``, ``denied``, ``returned`` or ``reversed``.

Choices where the issue is silent: a payment order seen for the first time already failed or cancelled gets
no ledger transaction (no money moved); a posted ledger transaction is final, so a completed order that is
later ``returned`` keeps it (the return is a new money movement, ledgered by its own record); a payment
order that already names a ledger transaction of its own is left alone. Every creation records the events
``ledger_transaction.created`` and ``payment_order.auto_ledgered``; every status change of an auto-ledgered
transaction records ``ledger_transaction.posted`` or ``ledger_transaction.archived``.

All of it runs in set operations: the eligible orders become one staged batch for the core's bulk
the core's ``post``, which creates, transitions or no-ops each transaction under the double-entry rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ledger_pipeline.ledger.batch_input import normalise_entries
from ledger_pipeline.ledger.errors import InputError
from ledger_pipeline.ledger.events import record_batch_events
from ledger_pipeline.ledger.posting import BatchResult, PostRequest, post
from ledger_pipeline.ledger.store import Connection
from ledger_pipeline.reconcile.processors import landed_field, latest_landed_sql

PENDING_STATUSES = ("needs_approval", "approved", "pending", "processing", "sent")
POSTED_STATUSES = ("completed",)
ARCHIVED_STATUSES = ("failed", "cancelled", "denied", "returned", "reversed")
KNOWN_STATUSES = PENDING_STATUSES + POSTED_STATUSES + ARCHIVED_STATUSES
EXTERNAL_ID_PREFIX = "payment_order:"

PO_COLUMNS = ("id", "type", "direction", "amount", "currency", "originating_account_id", "receiving_account_id",
              "status", "effective_date", "description", "ledger_transaction_id", "metadata")
_PO_DDL = ("id TEXT, type TEXT, direction TEXT, amount TEXT, currency TEXT, originating_account_id TEXT, "
           "receiving_account_id TEXT, status TEXT, effective_date TEXT, description TEXT, "
           "ledger_transaction_id TEXT, metadata TEXT")


def _status_sql(column: str) -> str:
    def quoted(values: tuple[str, ...]) -> str:
        return ", ".join(f"'{v}'" for v in values)
    return (f"CASE WHEN {column} IN ({quoted(PENDING_STATUSES)}) THEN 'pending' "
            f"WHEN {column} IN ({quoted(POSTED_STATUSES)}) THEN 'posted' "
            f"WHEN {column} IN ({quoted(ARCHIVED_STATUSES)}) THEN 'archived' END")


@dataclass(frozen=True)
class AutoLedgerResult:
    created: int
    transitioned: int
    unchanged: int
    refused: int
    events: int
    batch: BatchResult | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "transitioned": self.transitioned, "unchanged": self.unchanged,
                "refused": self.refused, "events": self.events,
                "reason_counts": self.batch.reason_counts if self.batch else {}}


def upsert_payment_orders(conn: Connection, orders: Iterable[Mapping[str, Any]] | pa.Table) -> int:
    """Insert new payment orders and apply status changes to known ones (Modern Treasury's fields; amounts
    in minor units; account ids or names). Returns the number of rows inserted or changed."""
    if isinstance(orders, pa.Table):
        table = orders
    else:
        rows = [dict(o) for o in orders]
        for row in rows:
            if isinstance(row.get("metadata"), Mapping):
                row["metadata"] = json.dumps(dict(row["metadata"]), sort_keys=True)
        table = pa.table({c: pa.array([None if r.get(c) is None else str(r[c]) for r in rows], pa.string())
                          for c in PO_COLUMNS})
    missing = [c for c in ("id", "direction", "amount", "currency", "originating_account_id",
                           "receiving_account_id", "status") if c not in table.column_names]
    if missing:
        raise InputError(f"payment orders lack columns: {', '.join(missing)}")
    table = table.select([c for c in PO_COLUMNS if c in table.column_names])
    table = pa.table({c: table.column(c).cast(pa.string()) for c in table.column_names})
    conn.load_arrow("recon_po_in", table, _PO_DDL)
    return _apply_staged_orders(conn)


def refresh_payment_orders_from_landing(conn: Connection) -> int:
    """Bring ``payment_orders`` up to date with what the ``payment_orders`` connector landed in
    ``raw_records`` (the latest version of each order: new orders and status changes), in SQL. Returns the
    number of orders inserted or changed; 0 when nothing was ever landed."""
    if not conn.scalar("SELECT count(*) FROM schema_info WHERE component = 'ingest'"):
        return 0
    columns = {"id": "r.object_id", "type": landed_field(conn, "payment_type"), "metadata": "NULL",
               **{c: landed_field(conn, c) for c in PO_COLUMNS if c not in ("id", "type", "metadata")}}
    latest = latest_landed_sql("'payment_orders'")
    conn.execute("DROP TABLE IF EXISTS recon_po_in")
    conn.execute(f"CREATE TEMPORARY TABLE recon_po_in ({_PO_DDL})")
    loaded = conn.execute(f"INSERT INTO recon_po_in ({', '.join(columns)}) "
                          f"SELECT {', '.join(f'CAST({v} AS TEXT)' for v in columns.values())} FROM {latest} r "
                          "WHERE r.stream = 'payment_orders'")
    if loaded <= 0:
        conn.execute("DROP TABLE recon_po_in")
        return 0
    return _apply_staged_orders(conn)


def _apply_staged_orders(conn: Connection) -> int:
    """Validate ``recon_po_in`` and merge it into ``payment_orders`` (new orders, status changes)."""
    bad = conn.all(
        "SELECT id, direction, amount, status FROM recon_po_in WHERE id IS NULL OR direction NOT IN ('credit', 'debit') "
        "OR NOT (amount ~ '^[0-9]+$') OR CAST(amount AS NUMERIC(38,0)) <= 0 OR lower(status) NOT IN ("
        + ", ".join(f"'{s}'" for s in KNOWN_STATUSES) + ") LIMIT 5")
    if bad:
        raise InputError("invalid payment orders (id, direction credit|debit, amount in minor units > 0, known "
                         f"status): {bad}")
    now = datetime.now(UTC)
    seq = conn.change_seq()
    resolved = """
        SELECT p.id, p.type, p.direction, CAST(p.amount AS NUMERIC(38,0)) AS amount,
            upper(p.currency) AS currency, COALESCE(i.id, i2.id, p.originating_account_id) AS originating_account_id,
            COALESCE(x.id, x2.id, p.receiving_account_id) AS receiving_account_id, lower(p.status) AS status,
            COALESCE(CAST(p.effective_date AS DATE), CAST(:now AS DATE)) AS effective_date,
            p.description, p.ledger_transaction_id,
            COALESCE(p.metadata, '{}') AS metadata
        FROM recon_po_in p
        LEFT JOIN internal_accounts i ON i.id = p.originating_account_id
        LEFT JOIN internal_accounts i2 ON i2.name = p.originating_account_id
        LEFT JOIN external_accounts x ON x.id = p.receiving_account_id
        LEFT JOIN external_accounts x2 ON x2.name = p.receiving_account_id"""
    changed = conn.execute(
        "INSERT INTO payment_orders (id, type, direction, amount, currency, originating_account_id, receiving_account_id, "
        "status, effective_date, description, ledger_transaction_id, metadata, created_at, updated_at, change_seq) "
        f"SELECT r.*, :now, :now, :seq FROM ({resolved}) r "
        "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, "
        "change_seq = EXCLUDED.change_seq WHERE payment_orders.status <> EXCLUDED.status",
        {"now": now, "seq": seq})
    conn.execute("DROP TABLE recon_po_in")
    return max(changed, 0)

_ELIGIBLE = f"""
SELECT po.id AS payment_order_id, l.name AS ledger, CAST(li.id AS TEXT) AS internal_ledger_account,
    CAST(le.id AS TEXT) AS external_ledger_account,
    po.direction, po.amount, po.currency, po.effective_date, po.description AS po_description, po.status AS po_status,
    {_status_sql('po.status')} AS target_status, t.id AS tx_id, t.status AS tx_status, t.description AS tx_description,
    t.metadata AS tx_metadata
FROM payment_orders po
JOIN ledger_accounts li ON li.ledgerable_type = 'internal_account' AND li.ledgerable_id = po.originating_account_id
JOIN ledger_accounts le ON le.ledgerable_type = 'external_account' AND le.ledgerable_id = po.receiving_account_id
    AND le.ledger_id = li.ledger_id
JOIN ledgers l ON l.id = li.ledger_id
LEFT JOIN ledger_transactions t ON t.ledger_id = li.ledger_id AND t.external_id = '{EXTERNAL_ID_PREFIX}' || po.id
WHERE (po.ledger_transaction_id IS NULL OR po.ledger_transaction_id = CAST(t.id AS TEXT))
"""

# Two staged entry rows per order that needs a write: a new transaction (pending or posted), or a
# transition of a pending one. A transition restates the stored description/metadata/effective time so the
# core sees the same payload with a new status.
_STAGE = f"""
SELECT '{EXTERNAL_ID_PREFIX}' || e.payment_order_id AS external_id, e.ledger, x.account, x.direction,
    CAST(e.amount AS TEXT) AS amount_minor, e.currency,
    CASE WHEN e.tx_id IS NULL THEN CAST(e.effective_date AS TEXT) END AS effective_at,
    e.target_status AS status,
    COALESCE(e.tx_description, e.po_description, 'Payment order ' || e.payment_order_id) AS description,
    COALESCE(e.tx_metadata, '{{"payment_order_id": "' || e.payment_order_id || '"}}') AS metadata,
    'payment_order' AS source, 'payment_order' AS ledgerable_type, e.payment_order_id AS ledgerable_id
FROM ({_ELIGIBLE}) e
CROSS JOIN LATERAL (
    SELECT e.internal_ledger_account AS account,
           CASE WHEN e.direction = 'debit' THEN 'debit' ELSE 'credit' END AS direction
    UNION ALL
    SELECT e.external_ledger_account, CASE WHEN e.direction = 'debit' THEN 'credit' ELSE 'debit' END
) x
WHERE (e.tx_id IS NULL AND e.target_status IN ('pending', 'posted'))
   OR (e.tx_status = 'pending' AND e.target_status IN ('posted', 'archived'))
ORDER BY 1, 4 DESC
"""


def auto_ledger_payment_orders(conn: Connection, *, actor: str = "reconcile") -> AutoLedgerResult:
    """Create or move the ledger transactions of eligible payment orders; record the events.
    The caller owns the database transaction."""
    staged = conn.arrow(_STAGE)
    if staged.num_rows == 0:
        return AutoLedgerResult(0, 0, 0, 0, 0)
    staged = conn.engine.text_columns(staged)
    result = post(conn, PostRequest(normalise_entries(staged, source_name="payment_orders"), source="payment_order",
                                    actor=actor))
    now = datetime.now(UTC)
    seq = conn.change_seq()
    # batch_txs (the core's staging of this batch) says what happened to each transaction.
    conn.execute(
        "UPDATE payment_orders SET ledger_transaction_id = CAST(t.id AS TEXT), updated_at = :now, "
        "change_seq = :seq "
        "FROM ledger_transactions t WHERE payment_orders.ledger_transaction_id IS NULL "
        f"AND t.external_id = '{EXTERNAL_ID_PREFIX}' || payment_orders.id AND t.source = 'payment_order'",
        {"now": now, "seq": seq})
    events = record_batch_events(
        conn, extra_columns=f", substr(b.external_id, {len(EXTERNAL_ID_PREFIX) + 1}) AS po_id",
        extra_data=", 'payment_order_id', o.po_id",
        extra_events=[("'payment_order.auto_ledgered'", "payment_order", "o.po_id", "o.action = 'create'")])
    return AutoLedgerResult(created=result.created, transitioned=result.transitioned, unchanged=result.duplicates,
                            refused=result.quarantined, events=events, batch=result)
