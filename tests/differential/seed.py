"""One random hypothesis seed per run (``DIFFERENTIAL_SEED=<n>`` replays a run)."""

from __future__ import annotations

import os
import random

SEED = int(os.environ.get("DIFFERENTIAL_SEED") or random.SystemRandom().randrange(2**32))
