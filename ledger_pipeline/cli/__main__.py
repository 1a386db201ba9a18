"""``python -m ledger_pipeline.cli``: the same as the ``ledger-pipeline`` command."""

from ledger_pipeline.cli.main import main

if __name__ == "__main__":  # pragma: no cover
    main()
