"""Lifecycle of source objects after their first posting: deletions, voids and returns become reversals;
card authorisation holds are versioned pending transactions that archive when released.

The YAML mapper turns one record into one transaction. Some source events instead act on transactions
posted earlier, and need the ledger's state:

* ``fields.action == "reverse"`` (a QuickBooks object that change-data-capture reports deleted, a voided
  NetSuite or QuickBooks transaction, a returned ACH payment, a deleted Chargebee invoice...): every
  ledger transaction of the object (``source:object_id`` and its journal lines ``source:object_id:line:N``)
  is undone: a pending one is archived, a posted one gets a reversal ``<external_id>:reversal`` (entries
  flipped, ``reverses_id`` set). Nothing to undo (the object was never posted) is a no-op.
* ``fields.type == "card_hold"``: the held amount of a card authorisation changed (authorisation,
  incremental authorisation, partial or full reversal, advice, expiry). The hold is at most ONE pending
  transaction ``source:<hold_id>:hold:<version_id>``; when the amount changes the current version is
  archived and, if anything is still held, a new pending version is created with the new amount (mapped
  with the source's ``card_authorization`` template). ``hold_amount`` gives the new total (Lithic reports
  it); ``hold_delta`` a signed change (Marqeta's incremental and reversal messages). A delta event that
  landed in an earlier batch already was applied and is not applied again.
* ``fields.type == "card_settlement"`` (a clearing, with ``settles_hold``): when the cleared amount equals
  what is held, the pending hold itself is POSTED (the same payload resubmitted with status ``posted``);
  otherwise (a tip, a partial clearing, a clearing without a hold) the hold is archived and the clearing
  is posted as its own transaction ``source:<object_id>`` with the ``card_clearing`` template.

Everything happens on the ingest step's database transaction, through the core's bulk posting path (the
same rules: a transition is the same payload with another status; a reversal is a new transaction).
These events are rare next to the records the mapper posts in bulk, so they are handled one by one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from ledger_pipeline.ingest import mapping as mapping_mod
from ledger_pipeline.ingest.mapping import MAP_INPUT_COLUMNS, STAGED_SCHEMA
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account, ensure_ledger
from ledger_pipeline.ledger.posting import (
    BatchResult,
    EntryInput,
    PostRequest,
    TransactionInput,
    load_transaction_input,
    post,
)
from ledger_pipeline.ledger.store import Connection, params_list

#: Sources whose records may carry lifecycle actions (others skip this step at no cost).
LIFECYCLE_SOURCES = frozenset({"quickbooks", "netsuite", "workday", "lithic", "marqeta", "peach", "loanpro",
                               "chargebee"})
HOLD_TEMPLATE_TYPE = "card_authorization"
CLEARING_TEMPLATE_TYPE = "card_clearing"


@dataclass
class LifecycleResult:
    reversed: int = 0
    archived: int = 0
    holds_created: int = 0
    holds_posted: int = 0
    nothing_to_do: int = 0
    details: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"reversed": self.reversed, "archived": self.archived, "holds_created": self.holds_created,
                "holds_posted": self.holds_posted, "nothing_to_do": self.nothing_to_do}


def _actionable(records: pa.Table) -> list[dict[str, Any]]:
    """The records that carry a lifecycle action, in input order (one vectorised filter)."""
    con = duckdb.connect()
    try:
        con.register("r", records.select([c for c in MAP_INPUT_COLUMNS if c in records.column_names]))
        rows = con.execute("""
            SELECT source, stream, object_id, record_hash, record_ref, fields_json FROM r
            WHERE json_extract_string(fields_json, '$.action') = 'reverse'
               OR json_extract_string(fields_json, '$.type') = 'card_hold'
               OR json_extract_string(fields_json, '$.type') = 'card_settlement'
        """).fetchall()
    finally:
        con.close()
    return [{"source": s, "stream": st, "object_id": o, "record_hash": h, "record_ref": ref,
             "fields": json.loads(f)} for s, st, o, h, ref, f in rows]


class _Plan:
    """Rows to post in one batch, and the hold state as it moves within the batch."""

    def __init__(self, conn: Connection, rules: mapping_mod.Mapping, batch_id: str | None):
        self.conn = conn
        self.rules = rules
        self.batch_id = batch_id
        self.rows: list[dict[str, Any]] = []
        self.new_holds: list[dict[str, Any]] = []
        #: hold_id -> (external_id or None, amount, exists_in_ledger)
        self.holds: dict[str, tuple[str | None, int, bool]] = {}
        self.result = LifecycleResult()
        self.touched: set[str] = set()

    # -- ledger lookups -------------------------------------------------------------------------------
    def _transactions(self, external_ids: list[str], prefix: str | None = None) -> list[dict[str, Any]]:
        conditions = []
        params: dict[str, Any] = {"ledger": self.rules.ledger}
        if external_ids:
            placeholders, id_params = params_list("x", external_ids)
            conditions.append(f"t.external_id IN ({placeholders})")
            params.update(id_params)
        if prefix is not None:
            conditions.append("t.external_id LIKE :prefix ESCAPE '\\'")
            params["prefix"] = prefix
        if not conditions:
            return []
        return self.conn.dicts(
            "SELECT t.id, t.external_id, t.status FROM ledger_transactions t JOIN ledgers l ON l.id = t.ledger_id "
            f"WHERE l.name = :ledger AND ({' OR '.join(conditions)}) ORDER BY t.created_at, t.external_id", params)

    def _input(self, external_id: str) -> TransactionInput:
        return load_transaction_input(self.conn, external_id, self.rules.ledger)

    def _add(self, tx: TransactionInput, ref: str) -> None:
        for row in tx.raw_rows():
            row["record_ref"] = f"{ref}: {row['record_ref']}"
            self.rows.append(row)

    # -- actions ----------------------------------------------------------------------------------------
    def archive(self, external_id: str, ref: str) -> None:
        if external_id in self.touched:
            return
        self.touched.add(external_id)
        self._add(replace(self._input(external_id), status="archived"), ref)
        self.result.archived += 1

    def reverse(self, record: dict[str, Any]) -> None:
        f = record["fields"]
        target = f.get("reverses_object_id") or record["object_id"]
        base = f"{record['source']}:{target}"
        found = [t for t in self._transactions([base], prefix=f"{_like_escape(base)}:line:%")
                 if not t["external_id"].endswith(":reversal")]
        done = {t["external_id"] for t in self._transactions([f"{t['external_id']}:reversal" for t in found])} \
            if found else set()
        acted = False
        for tx in found:
            ext = tx["external_id"]
            if tx["status"] == "pending":
                self.archive(ext, record["record_ref"] or ext)
                acted = True
            elif tx["status"] == "posted" and f"{ext}:reversal" not in done and ext not in self.touched:
                self.touched.add(ext)
                original = self._input(ext)
                when = f.get("updated_at") or f.get("effective_at") or datetime.now(UTC).isoformat()
                self._add(TransactionInput(
                    entries=[EntryInput(e.account, "credit" if e.direction == "debit" else "debit", e.amount,
                                        e.currency) for e in original.entries],
                    external_id=f"{ext}:reversal", ledger=self.rules.ledger, status="posted", effective_at=when,
                    description=f"Reversal of {ext} ({f.get('reason') or 'reversed at source'})",
                    metadata=original.metadata, source=original.source, reverses_id=tx["id"],
                ), record["record_ref"] or ext)
                self.result.reversed += 1
                acted = True
        if not acted:
            self.result.nothing_to_do += 1

    def _current_hold(self, source: str, hold_id: str) -> tuple[str | None, int, bool]:
        if hold_id in self.holds:
            return self.holds[hold_id]
        prefix = f"{_like_escape(f'{source}:{hold_id}')}:hold:%"
        pending = [t for t in self._transactions([], prefix=prefix) if t["status"] == "pending"]
        if not pending:
            state: tuple[str | None, int, bool] = (None, 0, False)
        else:
            ext = pending[-1]["external_id"]
            amount = sum(e.amount for e in self._input(ext).entries if e.direction == "debit")
            state = (ext, amount, True)
        self.holds[hold_id] = state
        return state

    def _landed_before(self, record: dict[str, Any]) -> bool:
        """A delta hold event already applied: the same object landed in an earlier batch."""
        return bool(self.conn.scalar(
            "SELECT count(*) FROM raw_records WHERE source = :s AND stream = :st AND object_id = :o "
            "AND batch_id <> :b", {"s": record["source"], "st": record["stream"], "o": record["object_id"],
                                   "b": self.batch_id or ""}))

    def _set_hold(self, record: dict[str, Any], hold_id: str, new_amount: int, version: str) -> None:
        source = record["source"]
        ext, amount, exists = self._current_hold(source, hold_id)
        new_ext = f"{source}:{hold_id}:hold:{version}"
        if ext is not None and new_amount == amount:
            return
        if ext is not None:
            if exists:
                self.archive(ext, record["record_ref"] or ext)
            else:  # created earlier in this very batch: never reaches the ledger
                self.new_holds = [h for h in self.new_holds if h["external_id"] != ext]
        if new_amount > 0:
            self.new_holds.append({"external_id": new_ext, "record": record, "amount": new_amount,
                                   "type": HOLD_TEMPLATE_TYPE, "status": "pending"})
            self.holds[hold_id] = (new_ext, new_amount, False)
        else:
            self.holds[hold_id] = (None, 0, False)

    def hold(self, record: dict[str, Any]) -> None:
        f = record["fields"]
        hold_id = str(f.get("hold_id"))
        version = str(f.get("version_id") or record["object_id"])
        current, _, _ = self._current_hold(record["source"], hold_id)
        if current == f"{record['source']}:{hold_id}:hold:{version}":
            # this event's hold version is already the ledger's (placed by the API's authorisation
            # decision, or earlier in this batch): applying its delta again would count it twice
            self.result.nothing_to_do += 1
            return
        if f.get("hold_amount") is not None:
            self._set_hold(record, hold_id, max(int(f["hold_amount"]), 0), version)
            return
        if self._landed_before(record):
            self.result.nothing_to_do += 1
            return
        _, amount, _ = self._current_hold(record["source"], hold_id)
        self._set_hold(record, hold_id, max(amount + int(f.get("hold_delta") or 0), 0), version)

    def settle(self, record: dict[str, Any]) -> None:
        """A clearing: post the hold when it clears exactly what is held, else archive it and post the
        clearing on its own."""
        f = record["fields"]
        if self._landed_before(record):
            self.result.nothing_to_do += 1
            return
        hold_id = str(f.get("settles_hold") or "")
        amount = int(f.get("amount") or 0)
        ext, held, exists = self._current_hold(record["source"], hold_id) if hold_id else (None, 0, False)
        if ext is not None and held == amount:
            if exists:
                self.touched.add(ext)
                self._add(replace(self._input(ext), status="posted"), record["record_ref"] or ext)
            else:  # the hold was opened in this very batch: create it posted
                for h in self.new_holds:
                    if h["external_id"] == ext:
                        h["status"] = "posted"
            self.result.holds_posted += 1
            self.holds[hold_id] = (None, 0, False)
            return
        if ext is not None:
            self._set_hold(record, hold_id, 0, record["object_id"])
        if amount > 0:
            self.new_holds.append({"external_id": f"{record['source']}:{record['object_id']}", "record": record,
                                   "amount": amount, "type": CLEARING_TEMPLATE_TYPE, "status": "posted"})

    # -- posting ----------------------------------------------------------------------------------------
    def _hold_rows(self) -> pa.Table | None:
        if not self.new_holds:
            return None
        rows = []
        for h in self.new_holds:
            rec = h["record"]
            fields = {**rec["fields"], "type": h["type"], "amount": h["amount"], "status": h["status"]}
            object_id = h["external_id"].split(":", 1)[1]
            rows.append({"source": rec["source"], "stream": rec["stream"], "object_id": object_id,
                         "record_hash": rec["record_hash"], "record_type": h["type"],
                         "cursor_value": None, "record_ref": rec["record_ref"], "raw_json": "{}",
                         "fields_json": json.dumps(fields, sort_keys=True, default=str), "quarantine_id": None})
        table = pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in MAP_INPUT_COLUMNS]))
        mapped = mapping_mod.map_records(self.rules, table)
        ensure_ledger(self.conn, self.rules.ledger)
        for chart, name, currency in mapped.accounts_to_ensure(self.rules):
            ensure_account(self.conn, self.rules.ledger, AccountSpec(
                name=name, normal_balance=chart.normal_balance, currency=currency, description=chart.description,
                metadata={"source": self.rules.source, "chart_key": chart.key}), actor=f"ingest:{self.rules.source}")
        self.result.holds_created += mapped.transactions
        if mapped.unmapped.num_rows:
            reasons = mapped.unmapped.column("reason").to_pylist()
            raise mapping_mod.MappingError(f"card hold or clearing cannot be mapped: {reasons[0]}")
        return mapping_mod.staged_rows(mapped)

    def post(self) -> BatchResult | None:
        tables = []
        hold_table = self._hold_rows()
        if self.rows:
            for row in self.rows:
                row.setdefault("quarantine_id", None)
            tables.append(pa.Table.from_pylist(
                [{n: (row.get(n) if n in ("line", "record_ref", "quarantine_id") else
                      (None if row.get(n) is None else str(row.get(n)))) for n in STAGED_SCHEMA.names}
                 for row in self.rows], schema=STAGED_SCHEMA))
        if hold_table is not None and hold_table.num_rows:
            tables.append(hold_table.cast(STAGED_SCHEMA))
        if not tables:
            return None
        table = pa.concat_tables(tables).combine_chunks()
        table = table.set_column(0, "line", pa.array(range(1, table.num_rows + 1), pa.int64()))
        return post(self.conn, PostRequest(table, default_ledger=self.rules.ledger, source=self.rules.source,
                                           actor=f"ingest:{self.rules.source}:lifecycle"))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def apply_lifecycle(conn: Connection, rules: mapping_mod.Mapping, records: pa.Table, *,
                    batch_id: str | None = None) -> tuple[LifecycleResult, BatchResult | None]:
    """Apply the lifecycle actions of ``records`` (landed rows, ``MAP_INPUT_COLUMNS``) on ``conn``'s
    transaction, after the mapper posted the batch. Returns what was done and the core's batch result."""
    if rules.source not in LIFECYCLE_SOURCES or records.num_rows == 0:
        return LifecycleResult(), None
    actionable = _actionable(records)
    if not actionable:
        return LifecycleResult(), None
    plan = _Plan(conn, rules, batch_id)
    for record in actionable:
        f = record["fields"]
        if f.get("action") == "reverse":
            plan.reverse(record)
        elif f.get("type") == "card_hold":
            plan.hold(record)
        elif f.get("type") == "card_settlement":
            plan.settle(record)
    return plan.result, plan.post()
