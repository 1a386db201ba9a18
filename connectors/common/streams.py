"""Public ``extract_<stream>`` functions built from one connector-level extract function.

A connector whose streams differ only by an argument (the entity, the path, the parser) defines that
function once and names each stream with ``stream_extractor``, so the stream functions the ingest step
resolves (``connectors.<name>:extract_<stream>``) stay real module attributes with their own docstrings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.common.http import HttpClient
from connectors.common.records import ExtractResult


def stream_extractor(stream: str, run: Callable[..., ExtractResult], doc: str, /,
                     **bound: Any) -> Callable[..., ExtractResult]:
    """``extract_<stream>(client, cursor=None, **options)``, which returns ``run(client, cursor, **bound,
    **options)``.

    Args:
        stream: the stream's name (``invoices``...), which names the function.
        run: the connector's extract function.
        doc: the function's docstring (what the stream holds, its arguments).
        bound: the arguments that select this stream (``entity=``, ``path=``...).
    """

    def extract(client: HttpClient, cursor: str | None = None, **options: Any) -> ExtractResult:
        return run(client, cursor, **bound, **options)

    extract.__name__ = extract.__qualname__ = f"extract_{stream}"
    extract.__doc__ = doc
    return extract
