"""Stripe: endpoints, page size, cursor field (constants only)."""

from datetime import timedelta

API_BASE_URL = "https://api.stripe.com"
API_KEY_ENV = "STRIPE_API_KEY"
PAGE_LIMIT = 100
#: well under Stripe's live-mode limit (100 read requests per second), leaving room for the product itself
RATE_LIMIT_PER_SECOND = 25.0
CURSOR_FIELD = "created"
#: objects created up to this long before the saved cursor are listed again (late writes, clock skew);
#: landing drops the unchanged ones by content hash
LOOKBACK = timedelta(hours=1)

#: stream -> (list endpoint, the API's object name)
STREAMS: dict[str, tuple[str, str]] = {
    "balance_transactions": ("/v1/balance_transactions", "balance_transaction"),
    "charges": ("/v1/charges", "charge"),
    "refunds": ("/v1/refunds", "refund"),
    "payouts": ("/v1/payouts", "payout"),
    "disputes": ("/v1/disputes", "dispute"),
    "transfers": ("/v1/transfers", "transfer"),
    "application_fees": ("/v1/application_fees", "application_fee"),
}
OBJECT_TO_STREAM = {obj: stream for stream, (_, obj) in STREAMS.items()}

#: Columns of the Balance (balance_change_from_activity.itemized) and Itemized payout reconciliation
#: (payout_reconciliation.itemized) report CSVs that the parser needs; other columns are kept raw.
#: The time comes from ``created_utc`` or, in exports without it, ``created`` (UTC for these reports when no
#: timezone was requested; a report run in a timezone also carries ``created_utc``, which is preferred).
REPORT_REQUIRED = ("balance_transaction_id", "currency", "gross", "fee", "net", "reporting_category")
REPORT_TIME_COLUMNS = ("created_utc", "created")
