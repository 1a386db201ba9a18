"""The providers' signature schemes, alone: replayed (stale) deliveries, unset secrets and rotated keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from ledger_pipeline.api import signatures
from ledger_pipeline.api.signatures import SignatureError


def _stripe(body: bytes, secret: str, t: int) -> str:
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_stripe(monkeypatch):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_a")
    now = int(time.time())
    signatures.verify_stripe(b"{}", _stripe(b"{}", "whsec_a", now))
    # during a secret rotation Stripe sends one v1 per secret: any one matching is enough
    signatures.verify_stripe(b"{}", _stripe(b"{}", "whsec_old", now) + "," + _stripe(b"{}", "whsec_a", now)
                             .split(",", 1)[1])
    with pytest.raises(SignatureError, match="from now"):
        signatures.verify_stripe(b"{}", _stripe(b"{}", "whsec_a", now - 301))
    with pytest.raises(SignatureError, match="matches"):
        signatures.verify_stripe(b'{"x": 1}', _stripe(b"{}", "whsec_a", now))
    with pytest.raises(SignatureError, match="t= and v1="):
        signatures.verify_stripe(b"{}", None)
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    with pytest.raises(SignatureError, match="is not set"):
        signatures.verify_stripe(b"{}", _stripe(b"{}", "", now))


def test_standard_webhooks(monkeypatch):
    key = b"0123456789abcdef"
    monkeypatch.setenv("LITHIC_WEBHOOK_SECRET", "whsec_" + base64.b64encode(key).decode())
    t = str(int(time.time()))
    sig = base64.b64encode(hmac.new(key, f"msg_1.{t}.".encode() + b"{}", hashlib.sha256).digest()).decode()
    signatures.verify_standard_webhook(b"{}", {"webhook-id": "msg_1", "webhook-timestamp": t,
                                               "webhook-signature": f"v1,bm90LWl0 v1,{sig}"})
    with pytest.raises(SignatureError):  # the signature binds the message id
        signatures.verify_standard_webhook(b"{}", {"webhook-id": "msg_2", "webhook-timestamp": t,
                                                   "webhook-signature": f"v1,{sig}"})


def test_basic_and_events(monkeypatch):
    monkeypatch.setenv("CHARGEBEE_WEBHOOK_USERNAME", "u")
    monkeypatch.setenv("CHARGEBEE_WEBHOOK_PASSWORD", "p")
    signatures.verify_basic("Basic " + base64.b64encode(b"u:p").decode(), "CHARGEBEE")
    for header in (None, "Bearer x", "Basic !!", "Basic " + base64.b64encode(b"u:q").decode()):
        with pytest.raises(SignatureError):
            signatures.verify_basic(header, "CHARGEBEE")
    monkeypatch.setenv("EVENTS_WEBHOOK_SECRET", "s")
    t = str(int(time.time()))
    signed = hmac.new(b"s", f"{t}.".encode() + b"{}", hashlib.sha256).hexdigest()
    signatures.verify_events(b"{}", {"x-signature-256": f"sha256={signed}", "x-signature-timestamp": t})
    with pytest.raises(SignatureError, match="from now"):
        signatures.verify_events(b"{}", {"x-signature-256": f"sha256={signed}", "x-signature-timestamp": "1"})
