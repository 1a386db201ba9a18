"""The one paging loop of the list endpoints: ask for a page, check its shape, yield its items, move on.

Each connector says only what differs: the page-size parameter, the position parameter and where it
starts, how to find the items in a response, and where the next page starts (``None`` once there is no
next page).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from connectors.common.errors import ParseError


@dataclass(frozen=True)
class Paging:
    """How one API pages its list endpoints.

    Attributes:
        source: the connector, named in errors.
        size_param: the query parameter that sets the page size (``limit``, ``count``...).
        position_param: the query parameter that says where a page starts (``offset``, ``starting_after``...).
        items: the items of a response, or ``None`` when the response does not have the expected shape.
        following: ``(body, items, position) -> position`` of the next page, or ``None`` after the last one.
        start: the first page's position; ``None`` sends no position parameter for it.
        where: the location named in the error for a response of the wrong shape (``{}`` = the position).
        missing: what that error says is wrong.
    """

    source: str
    size_param: str
    position_param: str
    items: Callable[[dict], list | None]
    following: Callable[[dict, list, Any], Any]
    start: Any = None
    where: str = "page after {}"
    missing: str = "response has no data"

    def pages(self, get: Callable[[dict], Any], params: dict, page_size: int) -> Iterator[list[dict]]:
        """Pages of one list endpoint; ``get(query)`` returns the parsed response of one request."""
        position = self.start
        while True:
            query = {**params, self.size_param: page_size}
            if position is not None:
                query[self.position_param] = position
            body = get(query)
            items = self.items(body) if isinstance(body, dict) else None
            if items is None:
                raise ParseError(self.source, self.where.format(position), self.missing)
            yield items
            position = self.following(body, items, position)
            if position is None:
                return


def data_items(body: dict) -> list | None:
    """``body["data"]`` (``None`` becomes an empty page) when the response has a ``data`` key."""
    return body["data"] or [] if "data" in body else None


def after_last(key: str, more: str = "has_more") -> Callable[[dict, list, Any], Any]:
    """Cursor paging: the next page starts after the last item's ``key`` while ``body[more]`` is true."""
    return lambda body, items, _: items[-1][key] if body.get(more) and items else None
