"""Helpers shared by the Connectors II tests (not a conftest: imported explicitly): fixtures from ``tests/fixtures/<source>/`` and ledger lookups."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Response

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(source: str, name: str) -> Any:
    """A fixture file as JSON (fractions as ``Decimal``); a recorded ``{request, response}`` gives its response."""
    body = json.loads((FIXTURES / source / name).read_text(encoding="utf-8"), parse_float=Decimal)
    if isinstance(body, dict) and set(body) >= {"request", "response"}:
        return body["response"]
    return body


def dumps(body: Any) -> str:
    """JSON text with each ``Decimal`` written as the number it is (no float on the way)."""
    text = json.dumps(body, default=lambda v: f"__DEC__{v}__" if isinstance(v, Decimal) else str(v))
    return re.sub(r'"__DEC__([-0-9.Ee+]+)__"', r"\1", text)


def json_response(body: Any, **options: Any) -> Response:
    """A JSON response for a local test server, with each ``Decimal`` written as the number it is."""
    return Response(dumps(body), content_type="application/json", **options)


def ledger_transactions(store, source: str | None = None) -> dict[str, dict[str, Any]]:
    """external_id -> {status, reverses_id, debit total} of every ledger transaction (of ``source``)."""
    with store.connect() as conn:
        rows = conn.dicts(
            "SELECT t.id, t.external_id, t.status, t.reverses_id, t.source, "
            "CAST(sum(CASE WHEN e.direction = 'debit' THEN e.amount ELSE 0 END) AS BIGINT) AS debits "
            "FROM ledger_transactions t JOIN ledger_entries e ON e.ledger_transaction_id = t.id "
            "WHERE (CAST(:source AS TEXT) IS NULL OR t.source = :source) "
            "GROUP BY t.id, t.external_id, t.status, t.reverses_id, t.source", {"source": source})
    return {r["external_id"]: r for r in rows}


def account_balances(store, prefix: str) -> dict[str, dict[str, int]]:
    """name -> posted/pending debits and credits of the accounts whose name starts with ``prefix``."""
    with store.connect() as conn:
        rows = conn.dicts(
            "SELECT a.name, e.status, e.direction, CAST(sum(e.amount) AS BIGINT) AS total FROM ledger_entries e "
            "JOIN ledger_accounts a ON a.id = e.ledger_account_id WHERE a.name LIKE :p "
            "GROUP BY a.name, e.status, e.direction", {"p": prefix + "%"})
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["name"], {})[f"{r['status']}_{r['direction']}"] = int(r["total"])
    return out


def net(balance: dict[str, int], status: str = "posted") -> int:
    """debits - credits over the entries of ``status``."""
    return balance.get(f"{status}_debit", 0) - balance.get(f"{status}_credit", 0)


def assert_ledger_invariants(store) -> None:
    """Per currency debits = credits over posted entries, and stored balances = balances from entries."""
    from ledger_pipeline.ledger.invariants import check_invariants

    with store.connect() as conn:
        assert check_invariants(conn) == []
