"""Dagster definitions by domain (``ingest/``, ``ledger/``, ``reconcile/``, ``warehouse/``, ``reporting/``),
plus ``resources.py``, ``jobs.py``, ``schedules.py`` and ``sensors.py``. Loaded by ``dg.load_defs``."""
