"""Quarantine: transactions that could not be posted, with their reason and raw rows, until replayed.

Replaying takes open items, stages their raw rows again (renumbered, with their original ``record_ref``),
and runs the normal pipeline: items that now post (or turn out to be already posted) are marked
``replayed``; the others stay open with their attempt count and the reasons of this attempt.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from ledger_pipeline.ledger.batch_post import PostRequest, post
from ledger_pipeline.ledger.inputs import MAX_REPORTED_VIOLATIONS, BatchResult
from ledger_pipeline.ledger.staging import RAW_COLUMNS
from ledger_pipeline.ledger.store import Connection, Store


def list_quarantine(conn: Connection, *, status: str | None = "open", reason_code: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
    """Quarantine items, oldest first; ``raw_payload`` is the JSON array of the item's input rows as given."""
    return conn.dicts(
        "SELECT id, created_at, batch_id, source, ledger_name, external_id, reason_code, reason, record_ref, status, "
        "attempts, resolution, raw_payload FROM quarantine WHERE (CAST(:status AS TEXT) IS NULL OR status = :status) "
        "AND (CAST(:reason AS TEXT) IS NULL OR reason_code = :reason) ORDER BY created_at, record_ref "
        f"LIMIT {int(limit)}",
        {"status": status, "reason": reason_code},
    )


def quarantine_counts(conn: Connection) -> dict[str, int]:
    """Open items per reason code."""
    return {code: int(n) for code, n in conn.all(
        "SELECT reason_code, count(*) FROM quarantine WHERE status = 'open' GROUP BY reason_code ORDER BY 1")}


def _replay_table(items: list[tuple[str, str, str | None, str | None]]) -> pa.Table:
    """Raw rows of ``(quarantine id, raw payload, ledger name, source)`` items, renumbered.

    A row that named no ledger or source gets the item's (the batch's ``default_ledger`` / ``source`` at
    the time), so a replay posts where and as the original batch would have. Within an item the rows keep
    the gaps between their original lines: rows of one external_id that were not one run in their batch
    stay apart (``rules.one_group_per_transaction``), and are refused again instead of merged.
    """
    rows: list[dict[str, Any]] = []
    next_line = 1
    for quarantine_id, payload, ledger_name, source in items:
        raws = json.loads(payload)
        original = [raw.get("line") for raw in raws]
        if not all(isinstance(n, int) for n in original) or sorted(set(original)) != original:
            original = list(range(len(raws)))
        for raw, at in zip(raws, original, strict=True):
            row = {c: raw.get(c) for c in RAW_COLUMNS}
            row["ledger"] = row["ledger"] or ledger_name
            row["source"] = row["source"] or source
            row["record_ref"] = raw.get("record_ref")
            row["quarantine_id"] = quarantine_id
            row["line"] = next_line + at - original[0]
            rows.append(row)
        if rows:
            next_line = rows[-1]["line"] + 1
    schema = pa.schema([("line", pa.int64()), ("record_ref", pa.string()), ("quarantine_id", pa.string()),
                        ("effective_at_ts", pa.timestamp("us", tz="UTC"))]
                       + [(c, pa.string()) for c in RAW_COLUMNS])
    return pa.Table.from_pylist(rows, schema=schema)


def _rounds(items: list[tuple[str, str, str | None, str | None, str | None]]) -> list[list[tuple]]:
    """Split items so that no round holds two items of the same (ledger, external_id): entries are grouped
    into transactions by external_id, so two payloads of one id replayed together would merge into one."""
    rounds: list[list[tuple]] = []
    seen: list[set] = []
    for qid, payload, ledger_name, source, external_id in items:
        key = (ledger_name, external_id or qid)
        i = next((n for n, keys in enumerate(seen) if key not in keys), len(rounds))
        if i == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[i].append((qid, payload, ledger_name, source))
        seen[i].add(key)
    return rounds


def _merge(results: list[BatchResult]) -> BatchResult:
    if len(results) == 1:
        return results[0]
    reason_counts: dict[str, int] = {}
    for result in results:
        for code, n in result.reason_counts.items():
            reason_counts[code] = reason_counts.get(code, 0) + n
    return BatchResult(
        batch_id=results[0].batch_id,
        **{f: sum(getattr(r, f) for r in results) for f in (
            "transactions_in", "entries_in", "created", "transitioned", "duplicates", "quarantined",
            "entries_posted", "replayed")},
        reason_counts=reason_counts,
        violations=tuple(v for r in results for v in r.violations)[:MAX_REPORTED_VIOLATIONS],
    )


def replay_quarantine(store: Store, *, ids: list[str] | None = None, reason_code: str | None = None,
                      actor: str = "replay") -> BatchResult:
    """Replay open quarantine items (all, or the given ids / reason code) through the posting pipeline,
    in one database transaction. Items that post (or are found already posted) become ``replayed``; the
    others stay ``open`` with ``attempts`` increased and this attempt's reasons. Open items that share an
    external_id are replayed one after the other, oldest first (the first to post wins; a later one with
    other content is then an ``external_id_conflict``)."""
    wanted = set(ids) if ids is not None else None
    with store.transaction() as conn:  # holds the store's write lock
        items = [
            row for row in conn.all(
                # Only items holding staged entry rows (a JSON array); records that could not even be
                # mapped (a JSON object, see ledger_pipeline.ingest) are replayed by ingest's replay_unmapped.
                "SELECT id, raw_payload, ledger_name, source, external_id FROM quarantine WHERE status = 'open' "
                "AND raw_payload LIKE '[%' "
                "AND (CAST(:reason AS TEXT) IS NULL OR reason_code = :reason) ORDER BY created_at, id",
                {"reason": reason_code},
            ) if wanted is None or row[0] in wanted
        ]
        rounds = _rounds(items) or [[]]
        return _merge([post(conn, PostRequest(_replay_table(group), actor=actor)) for group in rounds])


def discard_quarantine(conn: Connection, quarantine_id: str, resolution: str) -> None:
    """Close an item that should never be posted, keeping it and why (nothing is deleted)."""
    seq = conn.change_seq()
    conn.execute(
        "UPDATE quarantine SET status = 'discarded', resolved_at = now(), resolution = :resolution, "
        "change_seq = :seq WHERE id = :id AND status = 'open'",
        {"id": quarantine_id, "resolution": resolution, "seq": seq},
    )
