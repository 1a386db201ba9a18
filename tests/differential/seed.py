"""The run's hypothesis seed for the differential tests: ``DIFFERENTIAL_SEED``, which tests/conftest.py draws
once per run when it is not set (every xdist worker inherits it; the report prints it). Set it to replay a
run."""

from __future__ import annotations

import os

SEED = int(os.environ["DIFFERENTIAL_SEED"])
