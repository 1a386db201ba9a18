"""One random hypothesis seed per run, printed in the report header and reusable with
``DIFFERENTIAL_SEED=<n>`` to replay a disagreement."""

from __future__ import annotations

import os
import random

SEED = int(os.environ.get("DIFFERENTIAL_SEED") or random.SystemRandom().randrange(2**32))


def pytest_report_header(config):
    return f"differential statement tests: hypothesis seed {SEED} (replay with DIFFERENTIAL_SEED={SEED})"


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"differential statement tests: hypothesis seed {SEED} "
                                f"(replay with DIFFERENTIAL_SEED={SEED})")
