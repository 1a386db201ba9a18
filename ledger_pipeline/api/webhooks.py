"""Outbound webhooks: the rows of the ``events`` table (``ledger_transaction.created``, ``.posted``,
``.archived``, ``payment_order.auto_ledgered``...) delivered to configured URLs, signed, retried, never lost.

Each endpoint keeps its delivery state in ``webhook_endpoints`` (see ``api.schema``): the position of the last
event it acknowledged. Events are delivered one at a time per endpoint, in ``(change_seq, created_at, id)`` order (the order
they were written: events of one database transaction share its ``change_seq``), and only
below the store's safe change watermark (``Connection.safe_change_watermark``: every event before it has
committed), so an event committed late by a slow transaction is never skipped. An answer 2xx moves the
position past the event (in its own database transaction, so a crash between the answer and that commit
re-sends at most that one event: receivers deduplicate on ``Ledger-Event-Id``). Anything else (a refused
connection, a timeout, a non-2xx status) leaves the position where it is and waits ``backoff`` before the
next try, doubling per failed attempt up to a maximum; later events wait behind it, so order holds. A
lease (``lease_owner``, ``lease_until``) lets one worker at a time deliver to an endpoint, whichever
process runs it (``serve`` in the background, ``ledger-pipeline webhooks deliver``).

The signature header, ``Ledger-Signature: t=<unix seconds>,v1=<hex>``, carries HMAC-SHA256 of
``"<t>.<raw body>"`` keyed with the endpoint's secret (a receiver recomputes it and checks ``t`` is recent).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ledger_pipeline.ledger.errors import InputError, NotFoundError
from ledger_pipeline.ledger.store import Connection, Store

SIGNATURE_HEADER = "Ledger-Signature"
EVENT_ID_HEADER = "Ledger-Event-Id"
EVENT_TYPE_HEADER = "Ledger-Event-Type"
ALL_EVENTS = "*"
SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class Backoff:
    """The wait after the n-th failed attempt at an event: ``base_s * 2**(n - 1)``, at most ``max_s``."""

    base_s: float = 1.0
    max_s: float = 300.0

    def delay(self, attempts: int) -> float:
        return min(self.base_s * 2 ** max(attempts - 1, 0), self.max_s)


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "failed": self.failed, "errors": self.errors}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Ledger-Signature`` header value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None) -> bool:
    """Whether ``header`` is a valid signature of ``body`` made less than ``tolerance_s`` ago (for receivers,
    and the reference for the documented scheme)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    timestamp = int(parts["t"])
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts['v1']}")


# -- configuration -------------------------------------------------------------------------------------------


def add_endpoint(conn: Connection, url: str, event_types: list[str] | None = None, *, secret: str | None = None,
                 from_start: bool = False) -> dict[str, Any]:
    """Register ``url`` for ``event_types`` (default: every event). It receives the events committed from
    now on (``from_start``: every event in the store). Returns the endpoint with its secret."""
    if not url.startswith(("http://", "https://")):
        raise InputError(f"webhook URL must start with http:// or https://, not {url!r}")
    types = sorted(set(event_types or [])) or [ALL_EVENTS]
    if any(not t or " " in t for t in types):
        raise InputError(f"event types must be single words: {types}")
    now = datetime.now(UTC)
    row = {"id": str(uuid.uuid4()), "url": url, "secret": secret or SECRET_PREFIX + secrets.token_urlsafe(32),
           "event_types": " ".join(types), "now": now,
           "cursor_seq": -1 if from_start else conn.safe_change_watermark(["events"]), "seq": conn.change_seq()}
    conn.execute(
        "INSERT INTO webhook_endpoints (id, url, secret, event_types, created_at, updated_at, cursor_seq, "
        "cursor_event_id, delivered, attempts, change_seq) "
        "VALUES (:id, :url, :secret, :event_types, :now, :now, :cursor_seq, '', 0, 0, :seq)", row)
    return {"id": row["id"], "url": url, "event_types": types, "secret": row["secret"]}


def list_endpoints(conn: Connection, *, include_removed: bool = False) -> list[dict[str, Any]]:
    """Endpoints with their delivery state (never their secrets), oldest first."""
    return conn.dicts(
        "SELECT id, url, event_types, delivered, attempts, next_attempt_at, last_error, created_at, removed_at "
        "FROM webhook_endpoints WHERE CAST(:all AS BOOLEAN) OR removed_at IS NULL ORDER BY created_at, id",
        {"all": include_removed})


def remove_endpoint(conn: Connection, endpoint_id: str) -> None:
    """Stop delivering to an endpoint (its row and delivery count are kept)."""
    now = datetime.now(UTC)
    changed = conn.execute(
        "UPDATE webhook_endpoints SET removed_at = :now, updated_at = :now, change_seq = :seq "
        "WHERE id = :id AND removed_at IS NULL", {"now": now, "seq": conn.change_seq(), "id": endpoint_id})
    if changed == 0:
        raise NotFoundError(f"no active webhook endpoint {endpoint_id}")


# -- delivery ------------------------------------------------------------------------------------------------

_NEXT_EVENTS = """
SELECT e.id, e.event_type, e.object_type, e.object_id, e.data, e.created_at, e.change_seq FROM events e
WHERE (e.change_seq > :cursor_seq OR (e.change_seq = :cursor_seq AND (CAST(:cursor_at AS TIMESTAMPTZ) IS NULL
       OR e.created_at > :cursor_at OR (e.created_at = :cursor_at AND e.id > :cursor_id))))
  AND e.change_seq < :watermark
  AND (CAST(:types AS TEXT) = '*' OR strpos(' ' || CAST(:types AS TEXT) || ' ', ' ' || e.event_type || ' ') > 0)
ORDER BY e.change_seq, e.created_at, e.id
LIMIT {limit}
"""


def _claim(store: Store | HeldStore, owner: str, lease_s: float) -> list[dict[str, Any]]:
    """The active endpoints due for delivery whose lease this worker took."""
    now = datetime.now(UTC)
    with store.transaction() as conn:
        due = conn.dicts(
            "SELECT id FROM webhook_endpoints WHERE removed_at IS NULL "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= :now) "
            "AND (lease_until IS NULL OR lease_until < :now) ORDER BY created_at, id", {"now": now})
        claimed = []
        for row in due:
            taken = conn.execute(
                "UPDATE webhook_endpoints SET lease_owner = :owner, lease_until = :until WHERE id = :id "
                "AND removed_at IS NULL AND (lease_until IS NULL OR lease_until < :now)",
                {"owner": owner, "until": now + timedelta(seconds=lease_s), "id": row["id"], "now": now})
            if taken == 1:
                claimed.append(row["id"])
        if not claimed:
            return []
        return [conn.dicts("SELECT id, url, secret, event_types, cursor_seq, cursor_created_at, cursor_event_id, "
                           "attempts "
                           "FROM webhook_endpoints WHERE id = :id", {"id": endpoint_id})[0]
                for endpoint_id in claimed]


def _body(event: dict[str, Any]) -> bytes:
    created = event["created_at"]
    return json.dumps({
        "id": event["id"], "object": "event", "event": event["event_type"], "object_type": event["object_type"],
        "object_id": event["object_id"], "data": json.loads(event["data"] or "{}"),
        "created_at": created.isoformat() if isinstance(created, datetime) else created,
    }, sort_keys=True, separators=(",", ":")).encode()


def _send(client: httpx.Client, endpoint: dict[str, Any], event: dict[str, Any]) -> str | None:
    """POST one event; ``None`` when the receiver took it (2xx), else why not."""
    body = _body(event)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(endpoint["secret"], int(time.time()), body),
               EVENT_ID_HEADER: event["id"], EVENT_TYPE_HEADER: event["event_type"]}
    try:
        response = client.post(endpoint["url"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def _deliver_endpoint(store: Store | HeldStore, client: httpx.Client, endpoint: dict[str, Any], owner: str, backoff: Backoff,
                      batch: int, report: DeliveryReport) -> None:
    """Deliver the endpoint's next events in order until none is left or one fails."""
    cursor_seq, cursor_at, cursor_id = int(endpoint["cursor_seq"]), endpoint["cursor_created_at"], \
        endpoint["cursor_event_id"]
    attempts = endpoint["attempts"]
    while True:
        with store.connect() as conn:
            events = conn.dicts(_NEXT_EVENTS.format(limit=int(batch)), {
                "cursor_seq": cursor_seq, "cursor_at": cursor_at, "cursor_id": cursor_id,
                "types": endpoint["event_types"],
                "watermark": conn.safe_change_watermark(["events"])})
        if not events:
            return
        for event in events:
            error = _send(client, endpoint, event)
            now = datetime.now(UTC)
            with store.transaction() as conn:
                if error is None:
                    cursor_seq, cursor_at, cursor_id = int(event["change_seq"]), event["created_at"], event["id"]
                    attempts = 0
                    conn.execute(
                        "UPDATE webhook_endpoints SET cursor_seq = :cursor_seq, cursor_created_at = :cursor_at, "
                        "cursor_event_id = :cursor_id, "
                        "delivered = delivered + 1, attempts = 0, next_attempt_at = NULL, last_error = NULL, "
                        "updated_at = :now, change_seq = :seq WHERE id = :id AND lease_owner = :owner",
                        {"cursor_seq": cursor_seq, "cursor_at": cursor_at, "cursor_id": cursor_id, "now": now,
                         "seq": conn.change_seq(),
                         "id": endpoint["id"], "owner": owner})
                else:
                    attempts += 1
                    conn.execute(
                        "UPDATE webhook_endpoints SET attempts = :attempts, next_attempt_at = :retry, "
                        "last_error = :error, updated_at = :now, change_seq = :seq "
                        "WHERE id = :id AND lease_owner = :owner",
                        {"attempts": attempts, "retry": now + timedelta(seconds=backoff.delay(attempts)),
                         "error": f"event {event['id']}: {error}", "now": now, "seq": conn.change_seq(),
                         "id": endpoint["id"], "owner": owner})
            if error is not None:
                report.failed += 1
                report.errors.append(f"{endpoint['url']}: event {event['id']}: {error}")
                return
            report.delivered += 1


def deliver_pending(store: Store | HeldStore, *, backoff: Backoff | None = None, timeout_s: float = 10.0, batch: int = 100,
                    client: httpx.Client | None = None) -> DeliveryReport:
    """One pass: every endpoint that is due gets its pending events, in order, until one fails."""
    backoff = backoff or Backoff()
    owner = str(uuid.uuid4())
    lease_s = max(60.0, timeout_s * 3)
    report = DeliveryReport()
    own_client = client is None
    http = client or httpx.Client(timeout=timeout_s, follow_redirects=False)
    try:
        for endpoint in _claim(store, owner, lease_s):
            try:
                _deliver_endpoint(store, http, endpoint, owner, backoff, batch, report)
            finally:
                with store.transaction() as conn:
                    conn.execute("UPDATE webhook_endpoints SET lease_owner = NULL, lease_until = NULL "
                                 "WHERE id = :id AND lease_owner = :owner", {"id": endpoint["id"], "owner": owner})
    finally:
        if own_client:
            http.close()
    return report


class HeldStore:
    """A store whose ``connect`` and ``transaction`` lend one connection, kept open from one poll to the
    next and opened again once lost (a database restart). The background worker polls every second inside
    the server's process: a connection opened and closed per poll cost the database a new backend each
    time and the server's interpreter lock a connection handshake, which held up requests in flight."""

    def __init__(self, store: Store):
        self.store = store
        self._held: ExitStack | None = None
        self._conn: Connection | None = None

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        if self._conn is not None and self.store.engine.connection_lost(self._conn.raw):
            self.close()
        if self._conn is None:
            held = ExitStack()
            self._conn = held.enter_context(self.store.connect())
            self._held = held
        try:
            yield self._conn
        except BaseException:
            if self.store.engine.connection_lost(self._conn.raw):
                self.close()
            raise

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """As ``Store.transaction`` (the store's write lock, then one database transaction)."""
        with self.store.write_lock(), self.connect() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        held, self._held, self._conn = self._held, None, None
        if held is not None:
            try:
                held.close()
            except Exception:  # noqa: BLE001 - closing a connection that is already gone
                pass


class DeliveryWorker(threading.Thread):
    """Runs ``deliver_pending`` every ``poll_s`` seconds until stopped (``serve`` starts one), on one
    connection kept across polls (``HeldStore``)."""

    def __init__(self, store_url: str, *, poll_s: float = 1.0, backoff: Backoff | None = None,
                 timeout_s: float = 10.0):
        super().__init__(name="webhook-delivery", daemon=True)
        self.store = Store(store_url)
        self.poll_s, self.backoff, self.timeout_s = poll_s, backoff or Backoff(), timeout_s
        self._stopping = threading.Event()
        self.last_error: str | None = None

    def run(self) -> None:
        held = HeldStore(self.store)
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
                while not self._stopping.is_set():
                    try:
                        deliver_pending(held, backoff=self.backoff, timeout_s=self.timeout_s, client=client)
                        self.last_error = None
                    except Exception as exc:  # noqa: BLE001 - a store briefly unreachable: try again next poll
                        self.last_error = f"{type(exc).__name__}: {exc}"
                    self._stopping.wait(self.poll_s)
        finally:
            held.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        self.join(timeout_s)
