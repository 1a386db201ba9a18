"""Marqeta Core API: transactions endpoint, paging, cursor and the lifecycle of each transaction type."""

from datetime import timedelta

BASE_URL = "https://api.marqeta.com/v3"
TRANSACTIONS_PATH = "/transactions"
PAGE_SIZE = 100
#: ``GET /transactions`` sorted oldest change first; the cursor is the latest ``created_time`` seen.
SORT = "createdTime"
LOOKBACK = timedelta(hours=1)

#: Transaction type -> (what it does to the authorisation hold, what it posts).
#: hold ops: ``open`` (a new hold of the amount), ``add``, ``subtract``, ``set`` (the amount is the new
#: total), ``release`` (nothing left held); posting kinds: ``card_clearing`` (money out of the cardholder's
#: account), ``card_refund`` (money back in).
HOLD_OPS = {
    "authorization": "open",
    "authorization.incremental": "add",
    "authorization.reversal": "subtract",
    "authorization.advice": "set",
    "authorization.reversal.issuerexpiration": "release",
}
POSTINGS = {
    "authorization.clearing": "card_clearing",
    "pindebit": "card_clearing",
    "pindebit.atm.withdrawal": "card_clearing",
    "authorization.clearing.chargeback.reversal": "card_clearing",
    "refund": "card_refund",
    "pindebit.refund": "card_refund",
    "authorization.clearing.chargeback": "card_refund",
    "authorization.clearing.chargeback.completed": "card_refund",
}
#: States in which a transaction moved (or holds) money; DECLINED / ERROR ones are landed only.
LIVE_STATES = frozenset({"PENDING", "COMPLETION", "CLEARED"})

ENV_APP_TOKEN = "MARQETA_APPLICATION_TOKEN"
ENV_ACCESS_TOKEN = "MARQETA_ACCESS_TOKEN"
ENV_BASE_URL = "MARQETA_BASE_URL"
SOURCE = "marqeta"
