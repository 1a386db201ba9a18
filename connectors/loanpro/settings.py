"""LoanPro OData API: endpoint, paging, cursor (constants only)."""

#: ``https://<instance host>/api/public/api/1``; tests pass a local URL.
BASE_URL = "https://loanpro.simnang.com/api/public/api/1"
LOAN_TRANSACTIONS_PATH = "/odata.svc/LoanTransactions"
PAGE_SIZE = 50
#: LoanTransactions carry no modification time; their ``id`` only grows, so it is the cursor.
CURSOR_FIELD = "id"
#: Re-read this many ids below the cursor: transactions of a loan are rebuilt (new ids) when the loan is
#: modified, and a slow writer may commit a lower id after a higher one.
ID_OVERLAP = 500

#: LoanTransaction ``type`` -> record type. Info-only rows (modifications, rate changes) are landed only.
TYPES = {"payment": "loan_payment", "fee": "loan_fee", "charge": "loan_charge", "scheduledPayment": "loan_interest",
         "origination": "loan_disbursement", "advancement": "loan_disbursement", "credit": "loan_credit"}
DEFAULT_CURRENCY = "USD"
#: A scheduled row (``future = 1``) of these types is landed only (``loan_future``); it becomes a fee, charge,
#: payment... when it falls due, so it is read again on every run, from the lowest such id, until it does,
#: however far the id cursor moved. ``scheduledPayment`` (interest accrual, ignored by the default mapping)
#: is left out: every loan's schedule is made of them; add it when a mapping posts accrued interest.
REVISIT_FUTURE_TYPES = frozenset(TYPES) - {"scheduledPayment"}

ENV_BASE_URL = "LOANPRO_BASE_URL"
ENV_TOKEN = "LOANPRO_API_TOKEN"
ENV_INSTANCE = "LOANPRO_INSTANCE_ID"
SOURCE = "loanpro"
