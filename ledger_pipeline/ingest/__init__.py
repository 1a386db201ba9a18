"""Ingestion: land source records (append-only), map them to ledger transactions with YAML rules, post
them through the core. See ``pipeline.ingest`` and docs/connectors.md."""
