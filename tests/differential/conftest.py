"""Print the differential tests' hypothesis seed in the report header and, at the end of the run, the seed
and how many generated batches the input-path tests posted (each records ``differential_posts``:
(generated batches, posts across paths and engines) in its report, which reaches the controller under xdist)."""

from __future__ import annotations

from tests.differential.seed import SEED


def pytest_report_header(config):
    return f"differential tests: hypothesis seed {SEED} (replay with DIFFERENTIAL_SEED={SEED})"


def pytest_terminal_summary(terminalreporter):
    batches = posts = 0
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for name, value in getattr(report, "user_properties", ()):
            if name == "differential_posts" and report.when == "call":
                batches += value[0]
                posts += value[1]
    line = f"differential tests: hypothesis seed {SEED} (replay with DIFFERENTIAL_SEED={SEED})"
    if posts:
        line += f"; input paths: {batches} generated batches, {posts} posts across paths and engines"
    terminalreporter.write_line(line)
