"""What the ledger core and the standalone connectors share without either importing the other: exact
money parsing (``ledger_common.money``) and the base of the input errors (``ledger_common.errors``)."""
