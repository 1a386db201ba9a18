"""The HTTP API: the ledger as a service (ledgers, accounts with balances, transactions, entries) over the
same store and the same write path as every other command.

``app`` builds the FastAPI application, ``keys`` manages the API keys (stored as sha256 hashes), ``queries``
holds the read queries the API needs beyond the core's, ``schema`` the API's tables.
"""
