"""The pure accounting core: schema, money, store, double-entry rules, posting and balances.

Nothing here imports Dagster; every function takes a :class:`~ledger_pipeline.ledger.store.Store`.
"""
