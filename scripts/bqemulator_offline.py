"""Start ``bqemulator`` without network access (run with the .venv-bq interpreter).

bqemulator's engine runs ``INSTALL spatial; LOAD spatial`` at start and refuses to start when DuckDB cannot
download the extension (``DuckDBEngine._load_spatial``; there is no setting for it). The ledger uses no
GEOGRAPHY column, so this launcher replaces that one step with a no-op, turns off the best-effort Avro
extension (``BQEMU_ENABLE_FORMAT_EXTENSIONS=false``) and binds to 127.0.0.1. Everything else is the
emulator as shipped. Usage: ``.venv-bq/bin/python scripts/bqemulator_offline.py --rest-port 9050``.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("BQEMU_ENABLE_FORMAT_EXTENSIONS", "false")
    os.environ.setdefault("BQEMU_REST_HOST", "127.0.0.1")
    os.environ.setdefault("BQEMU_GRPC_HOST", "127.0.0.1")
    from bqemulator.storage import engine

    def skip_spatial(self) -> None:  # GEOGRAPHY is not used by the ledger's tables
        if self._connection is not None:
            self._connection.execute("SET autoinstall_known_extensions = false")

    engine.DuckDBEngine._load_spatial = skip_spatial
    from bqemulator.cli import main as cli_main

    sys.argv = ["bqemulator", "start", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
