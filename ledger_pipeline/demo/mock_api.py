"""A local mock of the sources' APIs, serving the recorded payloads that ship with the project
(``tests/fixtures/<source>/``), with each API's own paging, so the API connectors run end to end without
the real services: ``make demo`` (API mode), the Dagster tests and the tick benchmark.

One server on 127.0.0.1 serves every source under its own prefix: a connector's base URL is
``<server>/<source>`` (``MockApiServer.base_url``). ``copies`` repeats each recorded object with distinct
ids (``<id>-<n>``) to make volume: copy ``n`` is the object as it was ``n`` days earlier (the timestamps the
API filters on move back ``n * COPY_STEP``), so the copies make a history, as a real account holds. The
payloads are otherwise served as recorded (amounts keep their exact decimal text).

Each API's filters are applied as the connectors send them, with the API's own bounds (inclusive or not):
Stripe ``created[gte]``, Lithic ``begin``, Marqeta ``start_date`` (a day), LoanPro ``$filter=id gt N``,
NetSuite's SuiteQL ``lastmodifieddate >= TO_TIMESTAMP(...)``, Workday ``updatedFrom``, QuickBooks'
``MetaData.LastUpdatedTime >= '...'``, Chargebee ``updated_at[after]``. Peach's list endpoints take no
filter, so every Peach request returns its whole collection. A pull from a cursor therefore gets what a real
API gives: the objects in the connector's lookback window and those it re-visits, not the whole history.

``MockApi.respond(method, path, query, body)`` is the whole behaviour; ``MockApiServer`` wraps it in
``http.server`` on a free port, and tests plug it into pytest-httpserver.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from connectors.common.cursors import parse_instant
from ledger_pipeline import paths

FIXTURES_DIR = paths.PROJECT_ROOT / "tests" / "fixtures"
#: the sources the mock serves (the API connectors whose recorded payloads ship with the project)
API_SOURCES = ("stripe", "lithic", "marqeta", "peach", "loanpro", "netsuite", "workday", "quickbooks", "chargebee")

Response = tuple[int, Any]
#: how much older each copy of a recorded object is than the one before it
COPY_STEP = timedelta(days=1)


def json_text(body: Any) -> str:
    """JSON text with each ``Decimal`` written as the number it is (no float on the way)."""
    text = json.dumps(body, default=lambda v: f"__DEC__{v}__" if isinstance(v, Decimal) else str(v))
    return re.sub(r'"__DEC__([-0-9.Ee+]+)__"', r"\1", text)


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    return int(query.get(name) or default)


def _earlier(value: Any, by: timedelta) -> Any:
    """A timestamp as recorded (Unix seconds, or ISO-8601 text ending in ``Z`` or an offset), ``by`` earlier,
    written the same way."""
    if isinstance(value, int):
        return value - int(by.total_seconds())
    moved = datetime.fromisoformat(value.replace("Z", "+00:00")) - by
    return moved.strftime("%Y-%m-%dT%H:%M:%SZ") if value.endswith("Z") else moved.isoformat()


def _at(obj: Mapping[str, Any], path: str) -> Any:
    for key in path.split("."):
        obj = obj.get(key) or {}
    return obj or None


def _since(items: list[dict], field: str, bound: Any, *, strict: bool = False) -> list[dict]:
    """The items whose ``field`` (a dotted path) is at or after ``bound`` (after it when ``strict``);
    instants are compared as instants, whatever their text."""
    if bound is None or bound == "":
        return items
    start = parse_instant(bound)
    kept = []
    for obj in items:
        value = parse_instant(_at(obj, field))
        if value is not None and (value > start if strict else value >= start):
            kept.append(obj)
    return kept


def _oldest_first(items: list[dict], field: str) -> list[dict]:
    return sorted(items, key=lambda o: parse_instant(_at(o, field)))


class MockApi:
    """The recorded collections of every source, paged the way each API pages."""

    def __init__(self, fixtures: Path = FIXTURES_DIR, copies: int = 1):
        self.fixtures = fixtures
        self.copies = copies
        self.requests = 0
        self.routes: dict[str, Callable[[str, str, dict[str, str], bytes], Response]] = {
            "stripe": self._stripe, "lithic": self._lithic, "marqeta": self._marqeta, "peach": self._peach,
            "loanpro": self._loanpro, "netsuite": self._netsuite, "workday": self._workday,
            "quickbooks": self._quickbooks, "chargebee": self._chargebee,
        }

    # --- the recorded objects -------------------------------------------------------------------------
    def load(self, source: str, name: str) -> Any:
        body = json.loads((self.fixtures / source / name).read_text(encoding="utf-8"), parse_float=Decimal)
        if isinstance(body, dict) and set(body) >= {"request", "response"}:
            return body["response"]
        return body

    def repeat(self, objects: list[dict], id_field: str, *, numeric: bool = False,
               times: tuple[str, ...] = ()) -> list[dict]:
        """Each object ``copies`` times; copy ``n > 0`` gets id ``<id>-<n>`` (or ``id * 1000 + n``) and its
        ``times`` (dotted paths of the timestamps the API filters on) ``n * COPY_STEP`` earlier."""
        out = []
        for n in range(self.copies):
            for obj in objects:
                if n:
                    obj = copy.deepcopy(obj)
                    obj[id_field] = int(obj[id_field]) * 1000 + n if numeric else f"{obj[id_field]}-{n}"
                    for path in times:
                        *parents, name = path.split(".")
                        holder = obj
                        for key in parents:
                            holder = holder[key]
                        if holder.get(name) is not None:
                            holder[name] = _earlier(holder[name], n * COPY_STEP)
                out.append(obj)
        return out

    @cached_property
    def collections(self) -> dict[str, dict[str, list[dict]]]:
        from connectors.stripe.settings import STREAMS as STRIPE_STREAMS

        chargebee: dict[str, dict[str, dict]] = {"invoice": {}, "transaction": {}, "credit_note": {}}
        for path in sorted((self.fixtures / "chargebee").glob("*.json")):
            event = self.load("chargebee", path.name)
            for key, objects in chargebee.items():
                obj = (event.get("content") or {}).get(key) if isinstance(event, dict) else None
                if obj:
                    objects[obj["id"]] = obj  # the latest recorded version of each object
        workday_journals = [*self.load("workday", "journal_entries_page1.json")["data"],
                            *self.load("workday", "journal_entries_page2.json")["data"]]
        marqeta = self.load("marqeta", "gilbertotcc_webhook-event-transactions.json")["transactions"]
        lithic_times, quickbooks_times = ("created", "updated"), ("MetaData.LastUpdatedTime",)
        return {
            "stripe": {path: self.repeat([self.load("stripe", f"{obj}.json")], "id", times=("created",))
                       for path, obj in STRIPE_STREAMS.values()},
            "lithic": {
                "/v1/transactions": self.repeat(self.load("lithic", "card_transaction.examples.json"), "token",
                                                times=lithic_times),
                "/v1/payments": self.repeat(self.load("lithic", "payment_transaction.examples.json"), "token",
                                            times=lithic_times),
                "/v1/book_transfers": self.repeat(
                    self.load("lithic", "book_transfer_transaction_created.examples.json"), "token",
                    times=lithic_times),
                "/v1/balances": [b for item in self.load("lithic", "balance_updated.examples.json")
                                 for b in item["data"]],
            },
            "marqeta": {"/transactions": self.repeat(marqeta, "token", times=("created_time",))},
            "peach": {
                "/loans": self.load("peach", "loans.json")["data"],
                "transactions": self.repeat(self.load("peach", "transactions.json")["data"], "id"),
                "fees": self.repeat(self.load("peach", "fees.json")["data"], "id"),
            },
            "loanpro": {"/odata.svc/LoanTransactions": self.repeat(
                self.load("loanpro", "loanpro-mcp-server_mockTransactionsResponse.json")["d"]["results"], "id",
                numeric=True)},
            "netsuite": {"transactions": self._netsuite_rows()},
            "workday": {"/journalEntries": self.repeat(workday_journals, "id", times=("lastUpdated",)),
                        "/settlementRuns": self.repeat(self.load("workday", "settlement_runs.json")["data"], "id",
                                                       times=("lastUpdated",))},
            "quickbooks": {
                "Invoice": self.repeat([self.load("quickbooks", "create__invoice__0.json")["Invoice"]], "Id",
                                       times=quickbooks_times),
                "SalesReceipt": self.repeat(
                    self.load("quickbooks", "all__sales_receipts__0.json")["QueryResponse"]["SalesReceipt"], "Id",
                    times=quickbooks_times),
            },
            "chargebee": {f"/{key}s": self.repeat(list(objects.values()), "id", times=("updated_at",))
                          for key, objects in chargebee.items()},
        }

    def _netsuite_rows(self) -> list[dict]:
        """Each journal entry's ``lineList`` as SuiteQL TransactionAccountingLine rows, one transaction
        per copy."""
        rows = []
        for name in ("journal_entries.json", "adv_inter_company_journal_entries.json"):
            je = self.load("netsuite", name)
            for n in range(self.copies):
                tx_id = f"{je['externalId']}-{n}"
                modified = _earlier("2024-01-15T10:00:00Z", n * COPY_STEP)
                rows += [{"id": tx_id, "tranid": tx_id, "type": "Journal", "trandate": "2024-01-15",
                          "lastmodified": modified, "voided": "F", "memo": je.get("memo"),
                          "line": str(i), "account": line["account"]["internalId"],
                          "debit": None if line.get("debit") is None else str(line["debit"]),
                          "credit": None if line.get("credit") is None else str(line["credit"])}
                         for i, line in enumerate(je["lineList"])]
        return rows

    # --- requests -------------------------------------------------------------------------------------
    def respond(self, method: str, path: str, query: Mapping[str, str], body: bytes = b"") -> Response:
        """``(status, JSON body)`` for one request; ``path`` starts with ``/<source>``."""
        self.requests += 1
        source, _, rest = path.lstrip("/").partition("/")
        route = self.routes.get(source)
        if route is None:
            return 404, {"error": f"no mock for source {source!r}"}
        return route(method, "/" + rest, dict(query), body)

    def _collection(self, source: str, path: str) -> list[dict] | None:
        return self.collections[source].get(path)

    def _stripe(self, method: str, path: str, query: dict, body: bytes) -> Response:
        items = self._collection("stripe", path)
        if items is None:
            return 404, {"error": {"message": f"Unrecognized request URL (GET: {path})"}}
        gte = query.get("created[gte]")
        items = [o for o in items if o["created"] >= int(gte)] if gte else items
        start = 0
        if query.get("starting_after"):
            start = next(i for i, o in enumerate(items) if o["id"] == query["starting_after"]) + 1
        page = items[start:start + _int(query, "limit", 10)]
        return 200, {"object": "list", "url": path, "data": page, "has_more": start + len(page) < len(items)}

    def _lithic(self, method: str, path: str, query: dict, body: bytes) -> Response:
        items = self._collection("lithic", path)
        if items is None:
            return 404, {"message": f"no route {path}"}
        if path == "/v1/balances":
            return 200, {"data": items, "has_more": False}
        items = _since(items, "created", query.get("begin"))
        start = 0
        if query.get("starting_after"):
            start = next(i for i, o in enumerate(items) if o["token"] == query["starting_after"]) + 1
        page = items[start:start + _int(query, "page_size", 50)]
        return 200, {"data": page, "has_more": start + len(page) < len(items)}

    def _marqeta(self, method: str, path: str, query: dict, body: bytes) -> Response:
        items = self._collection("marqeta", path)
        if items is None:
            return 404, {"error_message": f"no route {path}"}
        day = query.get("start_date")
        if day:
            items = [o for o in items if o["created_time"][:10] >= day]
        if query.get("sort_by") == "createdTime":
            items = _oldest_first(items, "created_time")
        start, count = _int(query, "start_index", 0), _int(query, "count", 5)
        page = items[start:start + count]
        return 200, {"count": len(page), "start_index": start, "end_index": start + len(page) - 1,
                     "is_more": start + len(page) < len(items), "data": page}

    def _peach(self, method: str, path: str, query: dict, body: bytes) -> Response:
        collections = self.collections["peach"]
        parts = path.strip("/").split("/")
        if path == "/loans":
            items = collections["/loans"]
        elif len(parts) == 5 and parts[0] == "people" and parts[2] == "loans" and parts[4] in collections:
            loans = collections["/loans"]
            items = collections[parts[4]] if loans and parts[3] == loans[0]["id"] else []
        else:
            return 404, {"status": 404, "message": f"no route {path}"}
        start = 0
        if query.get("startingAfter"):
            start = next(i for i, o in enumerate(items) if o["id"] == query["startingAfter"]) + 1
        page = items[start:start + _int(query, "limit", 25)]
        more = start + len(page) < len(items)
        return 200, {"status": 200, "message": "Success", "nextUrl": f"{path}?more" if more else None, "data": page}

    def _loanpro(self, method: str, path: str, query: dict, body: bytes) -> Response:
        items = self._collection("loanpro", path)
        if items is None:
            return 404, {"error": f"no route {path}"}
        if query.get("$filter"):
            floor = int(query["$filter"].removeprefix("id gt "))
            items = [o for o in items if int(o["id"]) > floor]
        if query.get("$orderby") == "id asc":
            items = sorted(items, key=lambda o: int(o["id"]))
        start, top = _int(query, "$start", 0), _int(query, "$top", 50)
        return 200, {"d": {"results": items[start:start + top], "summary": {"start": start, "pageSize": top,
                                                                           "total": len(items)}}}

    def _netsuite(self, method: str, path: str, query: dict, body: bytes) -> Response:
        if path != "/services/rest/query/v1/suiteql" or method != "POST":
            return 404, {"title": f"no route {method} {path}"}
        sql = json.loads(body or b"{}").get("q", "")
        rows = [] if "deletedrecord" in sql.lower() else self.collections["netsuite"]["transactions"]
        if since := re.search(r"lastmodifieddate >= TO_TIMESTAMP\('([^']+)'", sql):
            rows = _since(rows, "lastmodified", since.group(1))
        if "ORDER BY t.lastmodifieddate" in sql:
            rows = _oldest_first(rows, "lastmodified")  # a stable sort: each transaction's lines stay in order
        limit, offset = _int(query, "limit", 1000), _int(query, "offset", 0)
        page = rows[offset:offset + limit]
        return 200, {"links": [], "count": len(page), "hasMore": offset + limit < len(rows), "offset": offset,
                     "totalResults": len(rows), "items": page}

    def _workday(self, method: str, path: str, query: dict, body: bytes) -> Response:
        items = self._collection("workday", path)
        if items is None:
            return 404, {"error": f"no route {path}"}
        items = _since(items, "lastUpdated", query.get("updatedFrom"))
        offset, limit = _int(query, "offset", 0), _int(query, "limit", 20)
        return 200, {"total": len(items), "data": items[offset:offset + limit]}

    def _quickbooks(self, method: str, path: str, query: dict, body: bytes) -> Response:
        if path.endswith("/cdc"):
            return 200, {"CDCResponse": [{"QueryResponse": []}]}
        if not path.endswith("/query"):
            return 404, {"Fault": {"Error": [{"Message": f"no route {path}"}]}}
        sql = query.get("query", "")
        entity = sql.split(" FROM ")[1].split()[0]
        start = int(m.group(1)) if (m := re.search(r"STARTPOSITION (\d+)", sql)) else 1
        size = int(m.group(1)) if (m := re.search(r"MAXRESULTS (\d+)", sql)) else 100
        items = self.collections["quickbooks"].get(entity, [])
        if since := re.search(r"WHERE MetaData\.LastUpdatedTime >= '([^']+)'", sql):
            items = _since(items, "MetaData.LastUpdatedTime", since.group(1))
        if "ORDERBY MetaData.LastUpdatedTime" in sql:
            items = _oldest_first(items, "MetaData.LastUpdatedTime")
        items = items[start - 1:start - 1 + size]
        return 200, {"QueryResponse": {entity: items, "startPosition": start, "maxResults": len(items)}
                     if items else {}}

    def _chargebee(self, method: str, path: str, query: dict, body: bytes) -> Response:
        key = path.removeprefix("/api/v2")
        items = self._collection("chargebee", key)
        if items is None:
            return 404, {"message": f"no route {path}"}
        if query.get("updated_at[after]"):
            items = [o for o in items if o["updated_at"] > int(query["updated_at[after]"])]
        if query.get("sort_by[asc]") == "updated_at":
            items = sorted(items, key=lambda o: o["updated_at"])
        offset, limit = _int(query, "offset", 0), _int(query, "limit", 10)
        page = items[offset:offset + limit]
        answer: dict[str, Any] = {"list": [{key.strip("/")[:-1]: obj} for obj in page]}
        if offset + limit < len(items):
            answer["next_offset"] = str(offset + limit)
        return 200, answer


class MockApiServer:
    """``MockApi`` over HTTP on 127.0.0.1 (a free port), in a background thread; a context manager."""

    def __init__(self, api: MockApi | None = None, host: str = "127.0.0.1", port: int = 0):
        self.api = api or MockApi()
        api_ = self.api

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                status, body = api_.respond(self.command, url.path, dict(parse_qsl(url.query)),
                                            self.rfile.read(length) if length else b"")
                data = json_text(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the demo prints its own summary
                return None

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="mock-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def base_url(self, source: str) -> str:
        return f"{self.url}/{source}"

    def __enter__(self) -> MockApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def sources_config(server: MockApiServer, sources: tuple[str, ...] = API_SOURCES) -> dict[str, Any]:
    """A ``sources.yaml`` body pulling ``sources`` from the mock."""
    return {"sources": {s: {"api": True, "base_url": server.base_url(s)} for s in sources}}


#: the API sources ``make demo`` pulls from the mock, besides the scenario's files
DEMO_API_SOURCES = ("stripe", "lithic", "quickbooks", "chargebee")


@contextmanager
def serve_sources(workdir: Path, sources: tuple[str, ...] = DEMO_API_SOURCES) -> Iterator[dict[str, str]]:
    """Start the mock, write ``<workdir>/sources.yaml`` switching ``sources`` on against it, and give the
    environment that points the pipeline at that file; the server stops on exit."""
    import yaml

    with MockApiServer() as server:
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / "sources.yaml"
        path.write_text(yaml.safe_dump(sources_config(server, sources), sort_keys=False), encoding="utf-8")
        yield {"LEDGER_SOURCES_CONFIG": str(path), "LEDGER_API_SOURCES": ""}
