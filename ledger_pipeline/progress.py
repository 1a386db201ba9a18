"""How long work reports its progress: ``hook(event, detail)``, called as each phase ends with its counts
(``("validated", {"rows": 1000000})``). The core only calls the hook; a front end (the CLI) renders it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

ProgressHook = Callable[[str, Mapping[str, Any]], None]


def no_progress(event: str, detail: Mapping[str, Any]) -> None:
    """The hook of a caller that shows no progress."""
    return None
