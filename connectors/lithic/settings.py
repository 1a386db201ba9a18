"""Lithic API: endpoints, page size, cursor and lookback (constants only)."""

from datetime import timedelta

BASE_URL = "https://api.lithic.com"
TRANSACTIONS_PATH = "/v1/transactions"
PAYMENTS_PATH = "/v1/payments"
BOOK_TRANSFERS_PATH = "/v1/book_transfers"
BALANCES_PATH = "/v1/balances"
PAGE_SIZE = 100  # the list endpoints' maximum
#: The list endpoints filter on ``created`` (``begin``), but a card transaction keeps changing for days
#: after it was created (clearing, reversal, expiry): re-read this window every run.
LOOKBACK = timedelta(days=10)
CURSOR_FIELD = "created"
#: A transaction, payment or book transfer in this status can still move (clear, settle, be reversed or
#: expire): it is listed again on every run, from the oldest one's ``created``, until it leaves it, however
#: far past the lookback the cursor moved (``cursors.revisit_start``).
OPEN_STATUSES = frozenset({"PENDING"})

#: Card events that move settled money; their ``effective_polarity`` (or sign) says which way.
SETTLING_EVENTS = frozenset({
    "CLEARING", "RETURN", "RETURN_REVERSAL", "CORRECTION_CREDIT", "CORRECTION_DEBIT",
    "FINANCIAL_AUTHORIZATION", "FINANCIAL_CREDIT_AUTHORIZATION",
})
CREDIT_EVENTS = frozenset({"RETURN", "CORRECTION_CREDIT", "FINANCIAL_CREDIT_AUTHORIZATION"})

ENV_API_KEY = "LITHIC_API_KEY"
ENV_BASE_URL = "LITHIC_BASE_URL"
SOURCE = "lithic"
