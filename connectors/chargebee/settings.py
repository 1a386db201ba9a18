"""Chargebee API v2: list endpoints, paging, cursor (constants only)."""

from datetime import timedelta

#: ``https://<site>.chargebee.com``; tests pass a local URL.
API_PREFIX = "/api/v2"
LIST_PATHS = {"invoices": "/invoices", "transactions": "/transactions", "credit_notes": "/credit_notes"}
OBJECT_KEYS = {"invoices": "invoice", "transactions": "transaction", "credit_notes": "credit_note"}
PAGE_SIZE = 100  # ``limit`` is at most 100
CURSOR_FIELD = "updated_at"
#: ``updated_at`` has one-second precision: re-read a short window.
LOOKBACK = timedelta(minutes=5)

#: Transaction status -> what it means for the ledger.
TRANSACTION_STATUS = {"in_progress": "pending", "success": "posted", "needs_attention": "pending"}
#: Transaction statuses after which nothing moved: any earlier ledger transaction is undone.
TRANSACTION_UNDONE = frozenset({"voided", "failure", "timeout"})

ENV_SITE_URL = "CHARGEBEE_BASE_URL"  # https://<site>.chargebee.com
ENV_API_KEY = "CHARGEBEE_API_KEY"
SOURCE = "chargebee"
