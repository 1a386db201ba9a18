"""The latency floor of ``bench.api``: an ASGI application that answers every request at once with a fixed
JSON body the size of a ledger account with its balances, served by uvicorn as ``ledger-pipeline serve``
serves the API (one process, uvloop and httptools, no access log), driven by the same load generator at the
same rates. What the generator, uvicorn and the machine add to a request whatever the application does: an
API's p99 cannot be lower than this one's in the same run."""

from __future__ import annotations

import json

BODY = json.dumps({
    "id": "00000000-0000-4000-8000-000000000000", "object": "ledger_account", "live_mode": True,
    "name": "lithic:financial_account:fa-0:USD", "ledger_id": "00000000-0000-4000-8000-000000000001",
    "description": None, "normal_balance": "credit", "currency": "USD", "currency_exponent": 2, "metadata": {},
    "balances": {kind: {"credits": 1000000000000, "debits": 0, "amount": 1000000000000, "currency": "USD",
                        "currency_exponent": 2}
                 for kind in ("pending_balance", "posted_balance", "available_balance")},
    "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00"}).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
