"""The FastAPI application: Modern Treasury's ledger resources over a store.

Writes go through the core's one write path: each server thread holds a ``LedgerWriter`` from
``open_writer`` (so concurrent requests share group commit, and the same rules, reason codes and balance
locks apply as to any other write). A refused write is answered 422 with its reason codes and kept in
quarantine, like a refused record of any other input path. Reads run on the same thread's connection, except
an account's balances, the hottest read: on PostgreSQL it is awaited on the event loop (``reads``).

Errors have one shape, ``{"error": {"code", "message", "field"?, "reason_codes"?}}``: 401 without a valid
key, 403 for a key without the scope, 404 for an unknown object, 413 for a body over the limit, 422 for a
malformed body or field (naming it) and for a refused write (with the rules' reason codes).
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger_pipeline.api import keys as api_keys
from ledger_pipeline.api import queries
from ledger_pipeline.api.reads import AsyncReads
from ledger_pipeline.ledger.engines import IN_MEMORY_STORE_URL
from ledger_pipeline.ledger.errors import LedgerError, NotFoundError, RuleViolation
from ledger_pipeline.ledger.ids import is_uuid_text
from ledger_pipeline.ledger.money import to_major
from ledger_pipeline.ledger.store import Connection, Store

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_KEY_CACHE_S = 1.0
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
STATUSES = ("pending", "posted", "archived")
MAX_MONEY = 10**38 - 1  # NUMERIC(38,0)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 reason_codes: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.reason_codes = field, reason_codes


def _error_response(status: int, code: str, message: str, *, field: str | None = None,
                    reason_codes: list[str] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    if reason_codes is not None:
        error["reason_codes"] = reason_codes
    return JSONResponse({"error": error}, status_code=status, headers=headers)


# -- request bodies ------------------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LedgerCreate(_Body):
    name: str = Field(min_length=1)
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class LedgerAccountCreate(_Body):
    name: str = Field(min_length=1)
    ledger_id: str
    normal_balance: Literal["credit", "debit"]
    currency: str = Field(min_length=1)
    currency_exponent: StrictInt | None = Field(default=None, ge=0, le=30)
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    ledgerable_type: str | None = None
    ledgerable_id: str | None = None
    min_available_balance: StrictInt | None = Field(default=None, ge=-MAX_MONEY, le=MAX_MONEY)
    max_available_balance: StrictInt | None = Field(default=None, ge=-MAX_MONEY, le=MAX_MONEY)


class LedgerEntryCreate(_Body):
    ledger_account_id: str
    direction: Literal["debit", "credit"]
    amount: StrictInt = Field(description="An integer of minor units (cents for USD).")
    currency: str | None = None


class LedgerTransactionCreate(_Body):
    ledger_entries: list[LedgerEntryCreate] = Field(min_length=1)
    ledger_id: str | None = Field(default=None, description="Default: the ledger named main.")
    external_id: str | None = Field(default=None, min_length=1)
    status: Literal["pending", "posted"] = "posted"
    effective_at: datetime | None = None
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    ledgerable_type: str | None = None
    ledgerable_id: str | None = None


class LedgerTransactionUpdate(_Body):
    status: Literal["posted", "archived"]


class ReversalCreate(_Body):
    external_id: str | None = Field(default=None, min_length=1)
    description: str | None = None
    effective_at: datetime | None = None


# -- serialisation -------------------------------------------------------------------------------------------


def _ts(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _decimal(minor: int, exponent: int) -> str:
    return f"{to_major(minor, exponent):.{exponent}f}"


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _metadata(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text else {}


def _ledger(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object": "ledger", "name": row["name"], "description": row["description"],
            "metadata": _metadata(row["metadata"]), "created_at": _ts(row["created_at"]),
            "updated_at": _ts(row["updated_at"])}


def _balance(debits: Any, credits: Any, credit_normal: bool, currency: str, exponent: int) -> dict[str, Any]:
    debits, credits = int(debits), int(credits)
    amount = credits - debits if credit_normal else debits - credits
    return {"credits": credits, "debits": debits, "amount": amount, "amount_decimal": _decimal(amount, exponent),
            "currency": currency, "currency_exponent": exponent}


def _account(row: dict[str, Any], as_of: datetime | None) -> dict[str, Any]:
    credit_normal = row["normal_balance"] == "credit"
    currency, exponent = row["currency"], int(row["currency_exponent"])
    available_debits = row["pending_debits"] if credit_normal else row["posted_debits"]
    available_credits = row["posted_credits"] if credit_normal else row["pending_credits"]
    return {
        "id": row["id"], "object": "ledger_account", "ledger_id": row["ledger_id"], "name": row["name"],
        "description": row["description"], "normal_balance": row["normal_balance"], "currency": currency,
        "currency_exponent": exponent, "metadata": _metadata(row["metadata"]),
        "ledgerable_type": row["ledgerable_type"], "ledgerable_id": row["ledgerable_id"],
        "min_available_balance": _int(row["min_available_balance"]),
        "max_available_balance": _int(row["max_available_balance"]),
        "archived_at": _ts(row["archived_at"]), "created_at": _ts(row["created_at"]),
        "updated_at": _ts(row["updated_at"]),
        "balances": {
            "effective_at_upper_bound": _ts(as_of),
            "pending_balance": _balance(row["pending_debits"], row["pending_credits"], credit_normal, currency,
                                        exponent),
            "posted_balance": _balance(row["posted_debits"], row["posted_credits"], credit_normal, currency,
                                       exponent),
            "available_balance": _balance(available_debits, available_credits, credit_normal, currency, exponent),
        },
    }


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    amount, exponent = int(row["amount"]), int(row["currency_exponent"])
    return {"id": row["id"], "object": "ledger_entry", "ledger_transaction_id": row["ledger_transaction_id"],
            "ledger_account_id": row["ledger_account_id"], "direction": row["direction"], "amount": amount,
            "amount_decimal": _decimal(amount, exponent), "currency": row["currency"],
            "currency_exponent": exponent, "status": row["status"], "effective_at": _ts(row["effective_at"]),
            "created_at": _ts(row["created_at"])}


def _transaction(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object": "ledger_transaction", "ledger_id": row["ledger_id"],
            "external_id": row["external_id"], "status": row["status"], "description": row["description"],
            "effective_at": _ts(row["effective_at"]), "posted_at": _ts(row["posted_at"]),
            "archived_at": _ts(row["archived_at"]), "created_at": _ts(row["created_at"]),
            "updated_at": _ts(row["updated_at"]), "metadata": _metadata(row["metadata"]),
            "ledgerable_type": row["ledgerable_type"], "ledgerable_id": row["ledgerable_id"],
            "reverses_ledger_transaction_id": row["reverses_id"],
            "ledger_entries": [_entry(e) for e in row["entries"]]}


def _listed(page: queries.Page, render: Callable[[dict[str, Any]], dict[str, Any]]) -> JSONResponse:
    """A list as Modern Treasury returns it: a JSON array, the next page's cursor in ``X-After-Cursor``."""
    headers = {"X-After-Cursor": page.after_cursor} if page.after_cursor else {}
    return JSONResponse([render(row) for row in page.rows], headers=headers)


# -- query parameters ----------------------------------------------------------------------------------------


def _parse_time(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "+"))  # an unescaped '+' arrives as ' '
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{field} must be an ISO 8601 time, not {value!r}",
                       field=field) from None
    if parsed.tzinfo is None:
        raise ApiError(422, "invalid_parameter", f"{field} must carry a UTC offset (e.g. Z)", field=field)
    return parsed


def _per_page(request: Request) -> int:
    raw = request.query_params.get("per_page")
    if raw is None:
        return DEFAULT_PER_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PER_PAGE:
        raise ApiError(422, "invalid_parameter", f"per_page must be an integer from 1 to {MAX_PER_PAGE}",
                       field="per_page")
    return int(raw)


def _id_parameter(value: str | None, field: str) -> str | None:
    """A query parameter naming a ledger object by its id (a filter, an ``after_cursor``): the ids are UUIDs,
    so any other text is refused with 422 naming the parameter (compared with a UUID column, it is an error
    on both engines)."""
    if value is not None and not is_uuid_text(value):
        raise ApiError(422, "invalid_parameter", f"{field} must be an id (a UUID), not {value!r}", field=field)
    return value


def _filters(request: Request) -> queries.Filters:
    """``ledger_id``, ``ledger_account_id``, ``status``, ``external_id``, ``effective_at[gt|gte|lt|lte]`` and
    ``metadata[key]=value`` from the query string."""
    params = request.query_params
    filters = queries.Filters(ledger_id=_id_parameter(params.get("ledger_id"), "ledger_id"),
                              ledger_account_id=_id_parameter(params.get("ledger_account_id"), "ledger_account_id"),
                              status=params.get("status"), external_id=params.get("external_id"))
    if filters.status is not None and filters.status not in STATUSES:
        raise ApiError(422, "invalid_parameter", f"status must be one of {', '.join(STATUSES)}", field="status")
    effective: dict[str, datetime] = {}
    metadata: dict[str, str] = {}
    for name, value in params.multi_items():
        if name.startswith("effective_at[") and name.endswith("]"):
            op = name[len("effective_at["):-1]
            if op not in ("gt", "gte", "lt", "lte"):
                raise ApiError(422, "invalid_parameter", "effective_at takes [gt], [gte], [lt] or [lte]", field=name)
            effective[op] = _parse_time(value, name)
        elif name.startswith("metadata[") and name.endswith("]") and len(name) > len("metadata[]"):
            metadata[name[len("metadata["):-1]] = value
    filters.effective, filters.metadata = effective, metadata
    return filters


# -- the request body limit ----------------------------------------------------------------------------------


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 (by its Content-Length, or while it
    streams in)."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:  # no body (most reads): nothing to count
            await self.app(scope, receive, send)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: dict, receive: Callable, send: Callable) -> None:
        response = _error_response(413, "body_too_large", f"the request body exceeds {self.max_bytes} bytes",
                                   headers={"Connection": "close"})
        await response(scope, receive, send)


# -- the application -----------------------------------------------------------------------------------------


class _Lease:
    """A server thread's hold on a writer, kept in the thread's local storage: it goes when the thread ends."""

    __slots__ = ("writer", "ended", "__weakref__")

    def __init__(self, writer: Any):
        self.writer = writer
        self.ended: weakref.finalize | None = None


class _Writers:
    """``LedgerWriter``s (each with its connection and staging tables) lent to the server's threads: a thread
    keeps the one it was lent for as long as it lives; when it ends, its writer is idle again and the next
    thread that needs one takes it. AnyIO ends a worker thread idle for 10 s and starts another when requests
    need it, so under a changing load threads come and go while the connections stay: a new thread does not
    open a connection (and create its staging tables), and an ended thread's connection is not left open.
    Every writer is closed at shutdown."""

    def __init__(self, store: Store):
        self.store = store
        self._local = threading.local()
        self._idle: list[Any] = []
        self._contexts: dict[int, AbstractContextManager] = {}  # every open writer's, by id(writer)
        self._guard = threading.Lock()

    def get(self):
        lease: _Lease | None = getattr(self._local, "lease", None)
        if lease is not None and self.store.engine.connection_lost(lease.writer.conn.raw):
            self._discard(lease)  # the server closed it (a restart, an idle timeout): take another
            lease = None
        if lease is None:
            lease = _Lease(self._idle_writer() or self._open_writer())
            lease.ended = weakref.finalize(lease, self._release, lease.writer)
            lease.ended.atexit = False
            self._local.lease = lease
        return lease.writer

    def _idle_writer(self):
        while True:
            with self._guard:
                writer = self._idle.pop() if self._idle else None
            if writer is None or not self.store.engine.connection_lost(writer.conn.raw):
                return writer
            self._close(writer)

    def _open_writer(self):
        from ledger_pipeline.ledger.posting import open_writer

        context = open_writer(self.store, actor="api", record_events=True)
        writer = context.__enter__()
        with self._guard:
            self._contexts[id(writer)] = context
        return writer

    def _release(self, writer) -> None:
        """The thread that held ``writer`` ended: it is idle again (unless closed meanwhile)."""
        with self._guard:
            if id(writer) in self._contexts:
                self._idle.append(writer)

    def _discard(self, lease: _Lease) -> None:
        if lease.ended is not None:
            lease.ended.detach()
        self._local.lease = None
        self._close(lease.writer)

    def _close(self, writer) -> None:
        with self._guard:
            context = self._contexts.pop(id(writer), None)
        if context is not None:
            try:
                context.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - closing a connection that is already gone
                pass

    def close(self) -> None:
        with self._guard:
            contexts = list(self._contexts.values())
            self._contexts.clear()
            self._idle.clear()
        for context in contexts:
            context.__exit__(None, None, None)


async def _look_up_key(state: Any, token_hash: str) -> api_keys.ApiKey | None:
    sql, params = api_keys.lookup_query(token_hash)
    rows = await state.reads.dicts(sql, params, lambda: state.writers.get().conn.dicts(sql, params))
    key = api_keys.key_of(rows[0]) if rows else None
    if key is not None:
        state.key_cache.put(token_hash, key)
    return key


def _forget_lookup(lookups: dict[str, asyncio.Task], token_hash: str, task: asyncio.Task) -> None:
    lookups.pop(token_hash, None)
    if not task.cancelled():
        task.exception()  # retrieved: the requests that awaited it have raised it


async def _authenticated(request: Request) -> api_keys.ApiKey:
    # the header is read from the request, not declared as a parameter: it stays out of the OpenAPI document
    # and FastAPI's per-parameter validation is spared on every request. A key verified within the cache's
    # lifetime is answered at once; a lookup runs like a balance read (``reads``), and one at a time per
    # token: when a cached key expires, the requests that arrive meanwhile wait for that one lookup instead
    # of each sending its own (at 1,000 requests/s, a crowd of lookups, each on a worker thread, held every
    # request up).
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    key = None
    if scheme.lower() == "bearer" and token:
        state = request.app.state
        token_hash = api_keys.hash_token(token)
        key = state.key_cache.get(token_hash)
        if key is None:
            lookup = state.key_lookups.get(token_hash)
            if lookup is None:
                lookup = asyncio.ensure_future(_look_up_key(state, token_hash))
                state.key_lookups[token_hash] = lookup
                lookup.add_done_callback(functools.partial(_forget_lookup, state.key_lookups, token_hash))
            key = await asyncio.shield(lookup)
    if key is None:
        raise ApiError(401, "unauthorized", "a valid API key is required: Authorization: Bearer <key>")
    return key


# The scope checks do no I/O: run on the event loop, they spare each request a trip to a worker thread.


async def _reader(key: Annotated[api_keys.ApiKey, Depends(_authenticated)]) -> api_keys.ApiKey:
    if "read" not in key.scopes:
        raise ApiError(403, "forbidden", "this API key lacks the read scope")
    return key


async def _writer(key: Annotated[api_keys.ApiKey, Depends(_authenticated)]) -> api_keys.ApiKey:
    if "write" not in key.scopes:
        raise ApiError(403, "forbidden", "this API key lacks the write scope")
    return key


Read = Annotated[api_keys.ApiKey, Depends(_reader)]
Write = Annotated[api_keys.ApiKey, Depends(_writer)]


def _refused_value_errors() -> tuple[type[Exception], ...]:
    """The drivers' errors for a value the database cannot hold (a NUL byte in text, a number out of
    range, a time out of range): the request's fault, answered 422, never 500."""
    import duckdb
    import psycopg

    return (psycopg.DataError, duckdb.ConversionException, duckdb.OutOfRangeException,
            duckdb.InvalidInputException)


async def _refused_value(_: Request, exc: Exception) -> JSONResponse:
    return _error_response(422, "invalid_value", f"the store cannot hold a value of the request "
                                                 f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")


def _unavailable_errors() -> tuple[type[Exception], ...]:
    """The drivers' errors for a store that cannot be reached or is locked by another process."""
    import duckdb
    import psycopg

    return (psycopg.OperationalError, duckdb.IOException)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    return _error_response(503, "store_unavailable", f"the store cannot be reached ({type(exc).__name__})",
                           headers={"Retry-After": "1"})


def create_app(store_url: str, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               key_cache_s: float = DEFAULT_KEY_CACHE_S) -> FastAPI:
    """The application over ``store_url``; a verified API key is trusted for ``key_cache_s`` seconds before
    it is looked up again (so a revocation takes effect within that time; 0: at once)."""
    store = Store(store_url)
    writers = _Writers(store)
    reads = AsyncReads(store)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        await reads.close()
        writers.close()

    app = FastAPI(title="ledger-pipeline API", version="0.1.0", lifespan=lifespan,
                  openapi_url="/api/openapi.json", docs_url="/api/docs", redoc_url=None,
                  description="Modern Treasury's ledger resources over a ledger-pipeline store. Authenticate with "
                              "`Authorization: Bearer <API key>`.")
    app.state.writers = writers
    app.state.reads = reads
    app.state.key_cache = api_keys.KeyCache(key_cache_s)
    app.state.key_lookups = {}
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.code, exc.message, field=exc.field, reason_codes=exc.reason_codes,
                               headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        location = [str(part) for part in first.get("loc", ())]
        if first.get("type") == "json_invalid":
            return _error_response(422, "invalid_json", f"the body is not valid JSON ({first.get('msg')})",
                                   field="body")
        field = ".".join(location[1:]) if location[:1] in (["body"], ["query"], ["header"], ["path"]) \
            else ".".join(location)
        return _error_response(422, "invalid_field", f"{field or 'body'}: {first.get('msg')}", field=field or "body")

    @app.exception_handler(RuleViolation)
    async def _refused(_: Request, exc: RuleViolation) -> JSONResponse:
        return _error_response(422, "rule_violation", str(exc), reason_codes=exc.reason_codes)

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return _error_response(404, "not_found", str(exc))

    @app.exception_handler(LedgerError)
    async def _ledger_error(_: Request, exc: LedgerError) -> JSONResponse:  # InputError is one too
        return _error_response(422, "invalid_request", str(exc))

    for error_class in _unavailable_errors():
        app.add_exception_handler(error_class, _unavailable)

    for error_class in _refused_value_errors():
        app.add_exception_handler(error_class, _refused_value)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error_response(exc.status_code, code, str(exc.detail))

    def conn() -> Connection:
        return writers.get().conn

    def write(key: api_keys.ApiKey, action: Callable[[Any], Any]) -> Any:
        writer = writers.get()
        writer.actor = f"api:{key.name}"
        return action(writer)

    def transaction_or_404(transaction_id: str) -> dict[str, Any]:
        row = queries.get_transaction(conn(), transaction_id)
        if row is None:
            raise ApiError(404, "not_found", f"ledger transaction {transaction_id} not found")
        return _transaction(row)

    @app.get("/api/ping", tags=["meta"])
    async def ping() -> dict[str, bool]:
        """Liveness (no key needed)."""
        return {"ok": True}

    # ledgers

    @app.post("/api/ledgers", status_code=201, tags=["ledgers"])
    def create_ledger(body: LedgerCreate, key: Write) -> JSONResponse:
        """Create a ledger; creating one that exists (by name) returns it."""
        from ledger_pipeline.ledger.accounts import ensure_ledger

        with store.transaction() as tx_conn:
            ledger_id = ensure_ledger(tx_conn, body.name, body.description, body.metadata, actor=f"api:{key.name}")
        return JSONResponse(_ledger(queries.get_ledger(conn(), ledger_id)), status_code=201)

    @app.get("/api/ledgers", tags=["ledgers"])
    def list_ledgers(request: Request, _: Read, after_cursor: str | None = None) -> JSONResponse:
        return _listed(queries.list_ledgers(conn(), after=_id_parameter(after_cursor, "after_cursor"),
                                            per_page=_per_page(request)), _ledger)

    @app.get("/api/ledgers/{ledger_id}", tags=["ledgers"], response_model=dict[str, Any])
    def get_ledger(ledger_id: str, _: Read) -> JSONResponse:
        row = queries.get_ledger(conn(), ledger_id)
        if row is None:
            raise ApiError(404, "not_found", f"ledger {ledger_id} not found")
        return JSONResponse(_ledger(row))

    # ledger accounts

    @app.post("/api/ledger_accounts", status_code=201, tags=["ledger accounts"])
    def create_ledger_account(body: LedgerAccountCreate, key: Write) -> JSONResponse:
        """Create a ledger account; creating one that exists with the same definition returns it."""
        from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account

        name = queries.ledger_name(conn(), body.ledger_id)
        if name is None:
            raise ApiError(422, "invalid_field", f"ledger {body.ledger_id} does not exist", field="ledger_id")
        spec = AccountSpec(name=body.name, normal_balance=body.normal_balance, currency=body.currency,
                           currency_exponent=body.currency_exponent, description=body.description,
                           metadata=body.metadata, ledgerable_type=body.ledgerable_type,
                           ledgerable_id=body.ledgerable_id, min_available_balance=body.min_available_balance,
                           max_available_balance=body.max_available_balance)
        with store.transaction() as tx_conn:
            account_id = ensure_account(tx_conn, name, spec, actor=f"api:{key.name}")
        return JSONResponse(_account(queries.get_account(conn(), account_id), None), status_code=201)

    @app.get("/api/ledger_accounts", tags=["ledger accounts"])
    def list_ledger_accounts(request: Request, _: Read, ledger_id: str | None = None,
                             after_cursor: str | None = None, as_of: str | None = None) -> JSONResponse:
        """Accounts with their balances; ``as_of`` (an ISO 8601 time) gives them as of that effective time;
        ``metadata[key]=value`` filters."""
        moment = _parse_time(as_of, "as_of") if as_of else None
        page = queries.list_accounts(conn(), ledger_id=_id_parameter(ledger_id, "ledger_id"),
                                     after=_id_parameter(after_cursor, "after_cursor"), per_page=_per_page(request),
                                     as_of=moment, metadata=_filters(request).metadata)
        return _listed(page, lambda row: _account(row, moment))

    @app.get("/api/ledger_accounts/{account_id}", tags=["ledger accounts"], response_model=dict[str, Any])
    async def get_ledger_account(account_id: str, _: Read, as_of: str | None = None) -> JSONResponse:
        """An account with its pending, posted and available balances (now, or as of an effective time)."""
        moment = _parse_time(as_of, "as_of") if as_of else None
        row = None
        if is_uuid_text(account_id):  # any other text is no account's id
            sql, params = queries.account_query(account_id, moment)
            rows = await reads.dicts(sql, params, lambda: conn().dicts(sql, params))
            row = rows[0] if rows else None
        if row is None:
            raise ApiError(404, "not_found", f"ledger account {account_id} not found")
        return JSONResponse(_account(row, moment))

    # ledger transactions

    @app.post("/api/ledger_transactions", status_code=201, tags=["ledger transactions"])
    def create_ledger_transaction(
        body: LedgerTransactionCreate, key: Write,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> JSONResponse:
        """Create a transaction with its entries. ``external_id`` (or, without one, the ``Idempotency-Key``
        header) identifies it: a retry returns the same response and writes nothing more."""
        from ledger_pipeline.ledger.posting import EntryInput, TransactionInput

        ledger = "main"
        if body.ledger_id is not None:
            ledger = queries.ledger_name(conn(), body.ledger_id)
            if ledger is None:
                raise ApiError(422, "invalid_field", f"ledger {body.ledger_id} does not exist", field="ledger_id")
        external_id = body.external_id
        if external_id is None and idempotency_key:
            external_id = f"idempotency:{key.id}:{idempotency_key}"
        tx = TransactionInput(
            entries=[EntryInput(e.ledger_account_id, e.direction, e.amount, e.currency) for e in body.ledger_entries],
            external_id=external_id, ledger=ledger, status=body.status, effective_at=body.effective_at,
            description=body.description, metadata=body.metadata, source="api",
            ledgerable_type=body.ledgerable_type, ledgerable_id=body.ledgerable_id,
        )
        result = write(key, lambda writer: writer.post(tx, quarantine_on_reject=True))
        return JSONResponse(transaction_or_404(result.id), status_code=201)

    @app.get("/api/ledger_transactions", tags=["ledger transactions"])
    def list_ledger_transactions(request: Request, _: Read, after_cursor: str | None = None) -> JSONResponse:
        """Filters: ``ledger_id``, ``ledger_account_id``, ``status``, ``external_id``,
        ``effective_at[gt|gte|lt|lte]``, ``metadata[key]=value``."""
        page = queries.list_transactions(conn(), _filters(request), after=_id_parameter(after_cursor, "after_cursor"),
                                         per_page=_per_page(request))
        return _listed(page, _transaction)

    @app.get("/api/ledger_transactions/{transaction_id}", tags=["ledger transactions"],
             response_model=dict[str, Any])
    def get_ledger_transaction(transaction_id: str, _: Read) -> JSONResponse:
        return JSONResponse(transaction_or_404(transaction_id))

    @app.patch("/api/ledger_transactions/{transaction_id}", tags=["ledger transactions"],
               response_model=dict[str, Any])
    def update_ledger_transaction(transaction_id: str, body: LedgerTransactionUpdate, key: Write) -> JSONResponse:
        """Move a pending transaction to posted or archived."""
        result = write(key, lambda writer: writer.transition(transaction_id, body.status, quarantine_on_reject=True))
        return JSONResponse(transaction_or_404(result.id))

    @app.post("/api/ledger_transactions/{transaction_id}/reversal", status_code=201, tags=["ledger transactions"])
    def reverse_ledger_transaction(transaction_id: str, key: Write,
                                   body: Annotated[ReversalCreate | None, Body()] = None) -> JSONResponse:
        """Reverse a posted transaction by a new one with every entry flipped (again: the same reversal)."""
        options = body or ReversalCreate()
        result = write(key, lambda writer: writer.reverse(
            transaction_id, external_id=options.external_id, effective_at=options.effective_at,
            description=options.description, quarantine_on_reject=True))
        return JSONResponse(transaction_or_404(result.id), status_code=201)

    # ledger entries

    @app.get("/api/ledger_entries", tags=["ledger entries"])
    def list_ledger_entries(request: Request, _: Read, after_cursor: str | None = None) -> JSONResponse:
        """Filters: ``ledger_account_id``, ``status``, ``effective_at[gt|gte|lt|lte]`` (of the entry);
        ``ledger_id``, ``external_id``, ``metadata[key]=value`` (of its transaction)."""
        page = queries.list_entries(conn(), _filters(request), after=_id_parameter(after_cursor, "after_cursor"),
                                    per_page=_per_page(request))
        return _listed(page, _entry)

    # the route modules import this one, so they are imported here
    from ledger_pipeline.api import (
        routes_accounts,
        routes_cards,
        routes_categories,
        routes_inbound_webhooks,
        routes_payments,
        routes_quarantine,
        routes_webhooks,
    )

    app.include_router(routes_categories.router)
    app.include_router(routes_accounts.router)
    app.include_router(routes_payments.router)
    app.include_router(routes_quarantine.router)
    app.include_router(routes_cards.router)
    app.include_router(routes_inbound_webhooks.router)
    app.include_router(routes_webhooks.router)
    return app


_ENVIRONMENT = ("LEDGER_API_STORE_URL", "LEDGER_API_MAX_BODY_BYTES", "LEDGER_API_KEY_CACHE_S")


def app_environment(store_url: str, *, max_body_bytes: int, key_cache_s: float) -> dict[str, str]:
    """The variables ``app_from_environment`` reads: how ``serve --workers N`` hands its options to the
    server processes uvicorn starts."""
    return dict(zip(_ENVIRONMENT, (store_url, str(max_body_bytes), str(key_cache_s)), strict=True))


def app_from_environment() -> FastAPI:
    """``create_app`` with the options ``app_environment`` set (uvicorn's factory in each worker process)."""
    import os

    url, max_body_bytes, key_cache_s = (os.environ[name] for name in _ENVIRONMENT)
    app = create_app(url, max_body_bytes=int(max_body_bytes), key_cache_s=float(key_cache_s))
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """Before a server process serves: what its imports and the application made (hundreds of thousands of
    objects, alive as long as the process) leaves the cyclic garbage collector's generations
    (``gc.freeze``). Under load, objects of requests in flight survive young collections and keep
    triggering full ones; a full collection that walks the startup objects holds every request of the
    process meanwhile, and now walks only what requests left behind."""
    import gc

    gc.collect()
    gc.freeze()


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document the server serves (it does not depend on the store)."""
    return create_app(IN_MEMORY_STORE_URL).openapi()


__all__ = ["ApiError", "app_environment", "app_from_environment", "create_app", "freeze_startup_objects",
           "openapi_document"]
