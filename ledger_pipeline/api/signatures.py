"""Verification of what providers send to the API, each by its documented scheme, with secrets from the
environment. A missing secret refuses every request (nothing unsigned is ever accepted).

* Stripe: ``Stripe-Signature: t=<unix time>,v1=<hex>``, HMAC-SHA256 of ``"<t>.<raw body>"`` keyed with the
  endpoint secret (``STRIPE_WEBHOOK_SECRET``, ``whsec_...``); the time within ``TOLERANCE_S``.
* Standard Webhooks (Lithic's webhooks and Auth Stream Access): ``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature: v1,<base64>`` (several, space separated), HMAC-SHA256 of
  ``"<id>.<timestamp>.<raw body>"`` keyed with the base64 part of ``LITHIC_WEBHOOK_SECRET`` (``whsec_...``).
* Adyen: each notification item's ``additionalData.hmacSignature``, base64 HMAC-SHA256 of
  ``pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success``
  keyed with the hex-decoded ``ADYEN_HMAC_KEY``.
* HTTP Basic authentication (Marqeta's webhooks and JIT Funding gateway, Chargebee's webhooks): the user
  name and password configured at the provider (``<PROVIDER>_WEBHOOK_USERNAME`` / ``_PASSWORD``).
* The production-events feed: ``X-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body keyed with
  ``EVENTS_WEBHOOK_SECRET``, and ``X-Signature-Timestamp`` (unix time) signed with it as
  ``"<timestamp>.<raw body>"`` when present.

Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Mapping
from typing import Any

TOLERANCE_S = 300  # a signed timestamp older or newer than this is refused (replay protection)


class SignatureError(Exception):
    """The request is not signed as its provider signs (the message says why, never the secret)."""


def _secret(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SignatureError(f"{name} is not set: requests cannot be verified, so none is accepted")
    return value


def _fresh(timestamp: str, now: float | None) -> None:
    if not timestamp.strip().lstrip("-").isdigit():
        raise SignatureError(f"the signed timestamp {timestamp!r} is not a unix time")
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_S:
        raise SignatureError(f"the signed timestamp is more than {TOLERANCE_S} s from now")


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def verify_stripe(body: bytes, header: str | None, *, now: float | None = None) -> None:
    secret = _secret("STRIPE_WEBHOOK_SECRET")
    parts = [part.split("=", 1) for part in (header or "").split(",") if "=" in part]
    timestamp = next((value for key, value in parts if key.strip() == "t"), None)
    signatures = [value.strip() for key, value in parts if key.strip() == "v1"]
    if timestamp is None or not signatures:
        raise SignatureError("Stripe-Signature must carry t= and v1=")
    _fresh(timestamp, now)
    expected = _hmac(secret.encode(), timestamp.encode() + b"." + body).hex()
    if not any(hmac.compare_digest(expected, signature) for signature in signatures):
        raise SignatureError("no v1 signature of Stripe-Signature matches the body")


def verify_standard_webhook(body: bytes, headers: Mapping[str, str], secret_env: str = "LITHIC_WEBHOOK_SECRET",
                            *, now: float | None = None) -> None:
    secret = _secret(secret_env)
    message_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = (headers.get("webhook-signature") or "").split()
    if not message_id or not timestamp or not signatures:
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    _fresh(timestamp, now)
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise SignatureError(f"{secret_env} is not whsec_<base64>") from None
    expected = base64.b64encode(_hmac(key, f"{message_id}.{timestamp}.".encode() + body)).decode()
    if not any(version == "v1" and hmac.compare_digest(expected, value)
               for version, _, value in (signature.partition(",") for signature in signatures)):
        raise SignatureError("no v1 signature of webhook-signature matches the body")


def adyen_signed_text(item: Mapping[str, Any]) -> str:
    amount = item.get("amount") or {}
    fields = [item.get("pspReference"), item.get("originalReference"), item.get("merchantAccountCode"),
              item.get("merchantReference"), amount.get("value"), amount.get("currency"), item.get("eventCode"),
              item.get("success")]
    return ":".join("" if value is None else str(value) for value in fields)


def verify_adyen(payload: Any) -> None:
    """Every ``NotificationRequestItem`` of a notification must carry a valid ``hmacSignature``."""
    try:
        key = binascii.unhexlify(_secret("ADYEN_HMAC_KEY"))
    except (binascii.Error, ValueError):
        raise SignatureError("ADYEN_HMAC_KEY is not hexadecimal") from None
    items = payload.get("notificationItems") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise SignatureError("an Adyen notification has notificationItems")
    for wrapper in items:
        item = wrapper.get("NotificationRequestItem") if isinstance(wrapper, dict) else None
        if not isinstance(item, dict):
            raise SignatureError("each notification item is a NotificationRequestItem")
        signature = str((item.get("additionalData") or {}).get("hmacSignature") or "")
        expected = base64.b64encode(_hmac(key, adyen_signed_text(item).encode())).decode()
        if not hmac.compare_digest(expected, signature):
            raise SignatureError(f"item {item.get('pspReference')}: hmacSignature does not match")


def verify_basic(authorization: str | None, provider: str) -> None:
    user, password = _secret(f"{provider}_WEBHOOK_USERNAME"), _secret(f"{provider}_WEBHOOK_PASSWORD")
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        raise SignatureError("HTTP Basic authentication is required")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise SignatureError("the Basic credentials are not base64") from None
    if not hmac.compare_digest(given, f"{user}:{password}".encode()):
        raise SignatureError("the Basic credentials do not match")


def verify_events(body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> None:
    secret = _secret("EVENTS_WEBHOOK_SECRET").encode()
    signature = headers.get("x-signature-256") or ""
    timestamp = headers.get("x-signature-timestamp")
    if not signature.startswith("sha256="):
        raise SignatureError("X-Signature-256: sha256=<hex> is required")
    message = body
    if timestamp is not None:
        _fresh(timestamp, now)
        message = timestamp.encode() + b"." + body
    if not hmac.compare_digest(_hmac(secret, message).hex(), signature.removeprefix("sha256=")):
        raise SignatureError("X-Signature-256 does not match the body")
