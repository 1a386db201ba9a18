"""Processor reconciliation: each Stripe payout equals the sum of the balance transactions it settles, and
each Adyen batch's net equals its MerchantPayout.

Input is what the connectors landed in ``raw_records`` (the latest version of each object), normalised into
``processor_settlement_items`` by :func:`refresh_processor_items` in one set operation:

* Stripe: a payout's amount comes from the ``payouts`` stream (``amount``), else from its balance
  transaction (reporting category / type ``payout``, ``source_id`` = the payout, amount = ``-net``). The
  items are the balance transactions naming the payout (``automatic_payout_id`` in the Itemized payout
  reconciliation report, ``payout_id`` when the API gave one), each counted at its ``net``.
* Adyen: per merchant account and batch of the Settlement Details Report, the rows other than
  ``MerchantPayout`` count at their net (net credit - net debit) and the ``MerchantPayout`` row at what it
  paid out (net debit - net credit).

Breaks (:func:`processor_breaks`), per processor, settlement and currency: ``sum_mismatch`` (the items do
not add up to the payout; ``difference`` = payout - items), ``no_payout`` (items that name a payout or batch
with no payout record: an Adyen batch still open, or a Stripe payout not extracted yet) and
``payout_without_items`` (a payout none of whose balance transactions is known, reported only for a
processor that has itemised data at all, so that loading the payouts stream alone reports nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger_pipeline.ledger.store import Connection, Store


@dataclass(frozen=True)
class ProcessorBreak:
    processor: str
    settlement_id: str
    currency: str
    reason: str
    payout_amount: int | None
    items_total: int
    items: int
    difference: int | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def latest_landed_sql(sources: str) -> str:
    """The latest version of each object ``raw_records`` holds for ``sources`` (an SQL list of quoted names)."""
    return f"""(SELECT * FROM (SELECT r.*, row_number() OVER (PARTITION BY source, stream, object_id
                 ORDER BY landed_at DESC, change_seq DESC, record_hash) AS v
                 FROM raw_records r WHERE source IN ({sources})) x WHERE v = 1)"""


def landed_field(conn: Connection, key: str) -> str:
    """SQL for field ``key`` of a landed record ``r`` (its ``fields_json``), as text; empty text is NULL."""
    return conn.engine.json_text("r.fields_json", key)


def _amount(conn: Connection, key: str) -> str:
    return f"CAST({landed_field(conn, key)} AS NUMERIC(38,0))"


def refresh_processor_items(conn: Connection) -> int:
    """Bring ``processor_settlement_items`` up to date with ``raw_records``; returns the rows written."""
    if not conn.scalar("SELECT count(*) FROM schema_info WHERE component = 'ingest'"):
        return 0
    f, amt = (lambda k: landed_field(conn, k)), (lambda k: _amount(conn, k))
    latest = latest_landed_sql("'stripe', 'adyen'")
    items = f"""
    SELECT 'stripe' AS processor, r.object_id AS settlement_id, 'payout' AS record_type, r.object_id,
           'payout_object' AS source_type, {amt('amount')} AS amount, {f('currency')} AS currency,
           {f('created')} AS occurred_at
    FROM {latest} r WHERE r.source = 'stripe' AND r.stream = 'payouts'
    UNION ALL
    SELECT 'stripe', {f('source_id')}, 'payout', r.object_id, 'payout_balance_transaction', -{amt('net')},
           {f('currency')}, {f('created')}
    FROM {latest} r WHERE r.source = 'stripe' AND r.stream <> 'payouts'
      AND (lower({f('type')}) = 'payout' OR lower(COALESCE({f('bt_type')}, '')) = 'payout')
      AND {f('source_id')} LIKE 'po_%'
    UNION ALL
    SELECT 'stripe', COALESCE({f('automatic_payout_id')}, {f('payout_id')}), 'item', r.object_id, {f('type')},
           {amt('net')}, {f('currency')}, {f('created')}
    FROM {latest} r WHERE r.source = 'stripe' AND r.stream <> 'payouts'
      AND COALESCE({f('automatic_payout_id')}, {f('payout_id')}) IS NOT NULL
      AND lower({f('type')}) <> 'payout' AND lower(COALESCE({f('bt_type')}, '')) <> 'payout'
    UNION ALL
    SELECT 'adyen', {f('merchant_account')} || ':' || {f('batch_number')},
           CASE WHEN {f('type')} = 'MerchantPayout' THEN 'payout' ELSE 'item' END, r.object_id, {f('type')},
           CASE WHEN {f('type')} = 'MerchantPayout' THEN -{amt('net')} ELSE {amt('net')} END,
           {f('currency')}, {f('created')}
    FROM {latest} r WHERE r.source = 'adyen' AND r.stream = 'settlement_details'
      AND {f('batch_number')} IS NOT NULL
    """
    now = datetime.now(UTC)
    seq = conn.change_seq()
    key = "'psi_' || substr(md5(i.processor || '|' || i.record_type || '|' || i.source_type || '|' || i.object_id), 1, 24)"
    conn.execute("DROP TABLE IF EXISTS rc_psi")
    conn.execute(f"CREATE TEMPORARY TABLE rc_psi AS SELECT {key} AS id, i.* FROM ({items}) i "
                 "WHERE i.settlement_id IS NOT NULL AND i.amount IS NOT NULL")
    changed = conn.execute(
        "UPDATE processor_settlement_items SET settlement_id = i.settlement_id, amount = i.amount, "
        "currency = i.currency, loaded_at = :now, change_seq = :seq FROM rc_psi i "
        "WHERE processor_settlement_items.id = i.id AND (processor_settlement_items.amount <> i.amount "
        "OR processor_settlement_items.settlement_id <> i.settlement_id)", {"now": now, "seq": seq})
    inserted = conn.execute(
        "INSERT INTO processor_settlement_items (id, processor, settlement_id, record_type, object_id, source_type, "
        "amount, currency, occurred_at, loaded_at, change_seq) SELECT i.id, i.processor, i.settlement_id, "
        "i.record_type, i.object_id, i.source_type, i.amount, upper(i.currency), CAST(i.occurred_at AS TIMESTAMPTZ), "
        ":now, :seq FROM rc_psi i WHERE NOT EXISTS (SELECT 1 FROM processor_settlement_items p WHERE p.id = i.id)",
        {"now": now, "seq": seq})
    conn.execute("DROP TABLE rc_psi")
    return max(changed, 0) + max(inserted, 0)


_BREAKS = """
WITH s AS (
    SELECT processor, settlement_id, currency,
        COALESCE(max(amount) FILTER (WHERE source_type = 'payout_object'),
                 sum(amount) FILTER (WHERE record_type = 'payout' AND source_type <> 'payout_object')) AS payout_amount,
        COALESCE(sum(amount) FILTER (WHERE record_type = 'item'), 0) AS items_total,
        count(*) FILTER (WHERE record_type = 'item') AS items
    FROM processor_settlement_items
    WHERE CAST(:processor AS TEXT) IS NULL OR processor = :processor
    GROUP BY processor, settlement_id, currency
), itemised AS (SELECT DISTINCT processor FROM s WHERE items > 0)
SELECT processor, settlement_id, currency, payout_amount, items_total, items,
    CASE WHEN payout_amount IS NULL THEN 'no_payout'
         WHEN items = 0 THEN 'payout_without_items'
         ELSE 'sum_mismatch' END AS reason
FROM s
WHERE (payout_amount IS NULL)
   OR (items = 0 AND processor IN (SELECT processor FROM itemised))
   OR (items > 0 AND payout_amount <> items_total)
ORDER BY processor, settlement_id, currency
"""


def list_processor_breaks(conn: Connection, processor: str | None = None) -> list[ProcessorBreak]:
    out = []
    for r in conn.dicts(_BREAKS, {"processor": processor}):
        payout = None if r["payout_amount"] is None else int(r["payout_amount"])
        total = int(r["items_total"])
        out.append(ProcessorBreak(r["processor"], r["settlement_id"], r["currency"], r["reason"], payout, total,
                                  int(r["items"]), None if payout is None else payout - total))
    return out


def processor_breaks(store: Store, processor: str | None = None, *, refresh: bool = True) -> list[ProcessorBreak]:
    """Stripe payouts and Adyen batches that do not add up (after bringing the items up to date)."""
    if refresh:
        with store.transaction() as conn:
            refresh_processor_items(conn)
    with store.connect(read_only=True) as conn:
        return list_processor_breaks(conn, processor)
