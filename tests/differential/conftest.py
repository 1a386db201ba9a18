"""Print the differential tests' hypothesis seed in the report header and at the end of the run."""

from __future__ import annotations

from tests.differential.seed import SEED


def pytest_report_header(config):
    return f"differential statement tests: hypothesis seed {SEED} (replay with DIFFERENTIAL_SEED={SEED})"


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"differential statement tests: hypothesis seed {SEED} "
                                f"(replay with DIFFERENTIAL_SEED={SEED})")
