"""Inbound webhooks against a real server, on both engines, with real provider payloads (tests/fixtures): a
wrong signature is refused with 401 and stores nothing; a signed delivery lands and posts through the
source's mapping; the same delivery again stores and posts nothing more."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from ledger_pipeline.ledger.store import Store
from tests.api.test_cards import (
    LITHIC_SECRET,
    MARQETA_PASSWORD,
    MARQETA_USER,
    lithic_headers,
    set_card_secrets,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
STRIPE_SECRET = "whsec_stripe_test_secret"
ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
EVENTS_SECRET = "events-test-secret"
CHARGEBEE_USER, CHARGEBEE_PASSWORD = "chargebee", "hook-password"


@pytest.fixture(autouse=True)
def _webhook_secrets(monkeypatch):
    set_card_secrets(monkeypatch)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
    monkeypatch.setenv("ADYEN_HMAC_KEY", ADYEN_KEY)
    monkeypatch.setenv("EVENTS_WEBHOOK_SECRET", EVENTS_SECRET)
    monkeypatch.setenv("CHARGEBEE_WEBHOOK_USERNAME", CHARGEBEE_USER)
    monkeypatch.setenv("CHARGEBEE_WEBHOOK_PASSWORD", CHARGEBEE_PASSWORD)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _stripe(body: bytes, secret: str = STRIPE_SECRET) -> dict[str, str]:
    t = str(int(time.time()))
    return {"Stripe-Signature": f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body,
                                                         hashlib.sha256).hexdigest()}


def _adyen_signed(key_hex: str) -> bytes:
    from ledger_pipeline.api.signatures import adyen_signed_text

    payload = json.loads((FIXTURES / "adyen/webhooks/captureTrue.json").read_text())
    for wrapper in payload["notificationItems"]:
        item = wrapper["NotificationRequestItem"]
        item.setdefault("additionalData", {})["hmacSignature"] = base64.b64encode(hmac.new(
            bytes.fromhex(key_hex), adyen_signed_text(item).encode(), hashlib.sha256).digest()).decode()
    return json.dumps(payload).encode()


def _events(body: bytes, secret: str = EVENTS_SECRET) -> dict[str, str]:
    return {"X-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def _deliveries() -> list[tuple[str, bytes, dict, dict]]:
    """(provider, body, good headers, bad headers) for each provider."""
    stripe = json.dumps({"id": "evt_1", "object": "event", "type": "balance.available", "data": {
        "object": json.loads((FIXTURES / "stripe/balance_transaction.json").read_text())}}).encode()
    lithic = json.dumps(json.loads((FIXTURES / "lithic/card_transaction.examples.json").read_text())[0]).encode()
    marqeta = (FIXTURES / "marqeta/gilbertotcc_webhook-event-transactions.json").read_bytes()
    chargebee = (FIXTURES / "chargebee/payment_succeeded.json").read_bytes()
    events = json.loads((FIXTURES / "events/webhook_delivery.json").read_text())["body"].encode()
    other_lithic = "whsec_" + base64.b64encode(b"not-the-secret").decode()
    return [
        ("stripe", stripe, _stripe(stripe), _stripe(stripe, "whsec_other")),
        ("adyen", _adyen_signed(ADYEN_KEY), {}, {}),
        ("lithic", lithic, lithic_headers(lithic, LITHIC_SECRET), lithic_headers(lithic, other_lithic)),
        ("marqeta", marqeta, _basic(MARQETA_USER, MARQETA_PASSWORD), _basic(MARQETA_USER, "wrong")),
        ("chargebee", chargebee, _basic(CHARGEBEE_USER, CHARGEBEE_PASSWORD), _basic("x", "y")),
        ("events", events, _events(events), _events(events, "wrong")),
    ]


def _raw_count(server, source: str) -> int | None:
    if not server.is_postgres:
        return None  # DuckDB: the server process holds the file (its one-writer limit)
    with Store(server.store_url).connect() as conn:
        return int(conn.scalar("SELECT count(*) FROM raw_records WHERE source = :s", {"s": source}))


def _transactions(client) -> int:
    rows, cursor = 0, None
    while True:
        response = client.get("/api/ledger_transactions", params={"per_page": 100,
                                                                   **({"after_cursor": cursor} if cursor else {})})
        rows += len(response.json())
        cursor = response.headers.get("X-After-Cursor")
        if not cursor:
            return rows


def test_webhooks(server):
    with server.client(token=None) as hooks, server.client() as api:
        for provider, body, good, bad in _deliveries():
            path = f"/api/webhooks/{provider}"
            before = _transactions(api)
            if provider == "adyen":
                refused = hooks.post(path, content=_adyen_signed("00" * 32),
                                     headers={"content-type": "application/json"})
            else:
                refused = hooks.post(path, content=body, headers={"content-type": "application/json", **bad})
            assert refused.status_code == 401, (provider, refused.text)
            assert refused.json()["error"]["code"] == "invalid_signature"
            assert _raw_count(server, provider) in (0, None) and _transactions(api) == before, provider

            accepted = hooks.post(path, content=body, headers={"content-type": "application/json", **good})
            assert accepted.status_code == 200, (provider, accepted.text)
            landed = _raw_count(server, provider)
            assert landed is None or landed > 0, provider
            posted = _transactions(api)
            if provider in ("stripe", "chargebee", "events", "marqeta"):  # Adyen and Lithic samples: land only
                assert posted > before, provider

            again = hooks.post(path, content=body, headers={"content-type": "application/json", **good})
            assert again.status_code == 200, (provider, again.text)
            assert _raw_count(server, provider) == landed and _transactions(api) == posted, provider
        assert hooks.post("/api/webhooks/adyen", content=_adyen_signed(ADYEN_KEY)).text == "[accepted]"
        # signed, but not a shape the connector reads: 422 naming the delivery, never a 500
        odd = json.dumps([1, 2]).encode()
        refused = hooks.post("/api/webhooks/lithic", content=odd, headers=lithic_headers(odd, LITHIC_SECRET))
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "unreadable_delivery", refused.text
        odd = json.dumps({"id": "evt_2", "object": "event", "data": [1]}).encode()
        assert hooks.post("/api/webhooks/stripe", content=odd, headers=_stripe(odd)).json()["landed"] == 0
