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
#: stream -> the statuses an object can still leave: such an object is listed again on every run, from the
#: oldest one's ``created``, until it reaches another status (``cursors.revisit_start``). A balance
#: transaction is ``pending`` until its funds are ``available`` (its ledger transaction then moves pending ->
#: posted); the other streams are landed for reference and re-visited the same way so that their latest
#: state is landed too.
OPEN_STATUSES: dict[str, frozenset[str]] = {
    "balance_transactions": frozenset({"pending"}),
    "charges": frozenset({"pending"}),
    "refunds": frozenset({"pending", "requires_action"}),
    "payouts": frozenset({"pending", "in_transit"}),
    "disputes": frozenset({"warning_needs_response", "warning_under_review", "needs_response", "under_review"}),
}
OBJECT_TO_STREAM = {obj: stream for stream, (_, obj) in STREAMS.items()}

#: Columns of the Balance (balance_change_from_activity.itemized) and Itemized payout reconciliation
#: (payout_reconciliation.itemized) report CSVs that the parser needs; other columns are kept raw.
#: The time comes from ``created_utc`` or, in exports without it, ``created`` (UTC for these reports when no
#: timezone was requested; a report run in a timezone also carries ``created_utc``, which is preferred).
REPORT_REQUIRED = ("balance_transaction_id", "currency", "gross", "fee", "net", "reporting_category")
REPORT_TIME_COLUMNS = ("created_utc", "created")
