"""Bank statements attached to internal accounts.

The input shape is the one the bank statement parsers produce (``connectors.bank``), reduced to what
reconciliation needs; :func:`from_connector` adapts ``connectors.bank.parse_statement``'s result. Amounts are exact integers of minor
units, signed from the account holder's side: a credit to the bank account (money in) is positive.

A statement is identified by (internal account, statement date, the bank's statement reference, or its
place in the file and a hash of its content when the bank gives no reference): loading
the same statement again is a no-op; a different statement under the same identity (other closing balance
or other lines) is refused rather than silently doubling lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from connectors.bank import parse_statement
from connectors.common.errors import ParseError
from ledger_pipeline.ledger.errors import InputError
from ledger_pipeline.ledger.posting import write_audit
from ledger_pipeline.ledger.store import Connection
from ledger_pipeline.reconcile.accounts import INTERNAL, resolve_account


@dataclass(frozen=True)
class StatementLine:
    date: date
    amount: int  # signed minor units: + money in (credit to the account), - money out
    currency: str | None = None  # default: the statement's
    type_code: str | None = None  # BAI2 type code, camt BkTxCd, OFX TRNTYPE...
    bank_reference: str | None = None
    customer_reference: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class BankStatement:
    account_identifier: str
    statement_date: date
    closing_balance: int | None
    currency: str
    opening_balance: int | None = None
    lines: Sequence[StatementLine] = field(default_factory=tuple)
    statement_ref: str | None = None
    source_format: str | None = None


@dataclass(frozen=True)
class LoadResult:
    statements_loaded: int
    statements_skipped: int
    lines_loaded: int
    statement_ids: tuple[str, ...]
    #: the file's own controls that failed and were taken on purpose (``verify=False``); each loaded
    #: statement of the file carries them in ``bank_statements.control_warning``
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"statements_loaded": self.statements_loaded, "statements_skipped": self.statements_skipped,
                "lines_loaded": self.lines_loaded, "statement_ids": list(self.statement_ids),
                "warnings": list(self.warnings)}


LINE_COLUMNS = ("statement_id", "line_no", "line_date", "amount", "currency", "type_code", "bank_reference",
                "customer_reference", "text")
_LINES_DDL = ("statement_id TEXT, line_no BIGINT, line_date DATE, amount NUMERIC(38,0), currency TEXT, "
              "type_code TEXT, bank_reference TEXT, customer_reference TEXT, text TEXT")


def statement_id(internal_account_id: str, statement_date: date, statement_ref: str | None) -> str:
    key = f"{internal_account_id}|{statement_date.isoformat()}|{statement_ref or ''}"
    return "stmt_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _content_key(st: BankStatement, position: int) -> str:
    """The identity of a statement that has no reference of its own: its place in the file and its content,
    so the same file loaded again is recognised and another statement of the same day is not mistaken for it."""
    digest = hashlib.sha256(repr((st.opening_balance, st.closing_balance, st.currency, [
        (ln.date.isoformat(), ln.amount, ln.type_code, ln.bank_reference, ln.customer_reference, ln.text)
        for ln in st.lines])).encode()).hexdigest()[:16]
    return f"#{position}:{digest}"


def _lines_table(rows: list[tuple]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in LINE_COLUMNS]
    types = [pa.string(), pa.int64(), pa.date32(), pa.string(), pa.string(), pa.string(), pa.string(),
             pa.string(), pa.string()]
    return pa.table({name: pa.array(list(col), typ)
                     for name, col, typ in zip(LINE_COLUMNS, columns, types, strict=True)})


def load_statements(conn: Connection, statements: Iterable[BankStatement], *, internal_account: str | None = None,
                    source_file: str | None = None, actor: str = "system",
                    warnings: Sequence[str] = ()) -> LoadResult:
    """Store statements and their lines, attached to the internal account whose ``account_identifier`` is
    the statement's (or to ``internal_account``, a name or id, for every statement given). ``warnings``
    (failed controls of the file, taken on purpose) flag every statement stored.

    Run it inside a transaction (``store.transaction()``) so that a refused statement leaves nothing."""
    forced = resolve_account(conn, INTERNAL, internal_account) if internal_account else None
    identifiers = dict(conn.all("SELECT account_identifier, id FROM internal_accounts"))
    currencies = dict(conn.all("SELECT id, currency FROM internal_accounts"))
    now = datetime.now(UTC)
    seq = conn.change_seq()
    loaded: list[str] = []
    skipped = 0
    line_rows: list[tuple] = []
    for position, st in enumerate(statements):
        account_id = forced or identifiers.get(st.account_identifier)
        if account_id is None:
            raise InputError(f"statement of account {st.account_identifier!r} ({st.statement_date}): no internal "
                             "account has this identifier; create one (reconcile internal-account create) or pass "
                             "--internal-account")
        currency = st.currency.upper()
        if currencies[account_id] != currency:
            raise InputError(f"statement of account {st.account_identifier!r} ({st.statement_date}) is in {currency}, "
                             f"its internal account in {currencies[account_id]}")
        sid = statement_id(account_id, st.statement_date, st.statement_ref or _content_key(st, position))
        existing = conn.one("SELECT closing_balance, line_count FROM bank_statements WHERE id = :id", {"id": sid})
        if existing or sid in loaded:
            stored = None if existing is None or existing[0] is None else int(existing[0])
            if existing and (stored, int(existing[1])) == (st.closing_balance, len(st.lines)):
                skipped += 1
                continue
            raise InputError(f"statement of account {st.account_identifier!r} for {st.statement_date} "
                             f"(ref {st.statement_ref!r}) is already loaded with other content")
        conn.execute(
            "INSERT INTO bank_statements (id, internal_account_id, account_identifier, statement_date, opening_balance, "
            "closing_balance, currency, statement_ref, position, source_format, source_file, line_count, created_at, "
            "change_seq, control_warning) VALUES (:id, :account_id, :identifier, :statement_date, :opening, :closing, "
            ":currency, :ref, :position, :format, :file, :lines, :now, :seq, :warning)",
            {"id": sid, "account_id": account_id, "identifier": st.account_identifier,
             "statement_date": st.statement_date, "opening": st.opening_balance, "closing": st.closing_balance,
             "currency": currency, "ref": st.statement_ref, "position": len(loaded), "format": st.source_format,
             "file": source_file,
             "lines": len(st.lines), "now": now, "seq": seq, "warning": "; ".join(warnings) or None})
        loaded.append(sid)
        for i, line in enumerate(st.lines, start=1):
            line_rows.append((sid, i, line.date, str(int(line.amount)), (line.currency or currency).upper(),
                              line.type_code, line.bank_reference, line.customer_reference, line.text))
    lines = insert_lines(conn, _lines_table(line_rows), now=now, seq=seq)
    if loaded:
        detail: dict[str, Any] = {"statements": loaded, "lines": lines, "file": source_file}
        if warnings:
            detail["control_warnings"] = list(warnings)
        write_audit(conn, actor=actor, action="load_statements", object_type="bank_statement", object_id=None,
                    request_hash=None, detail=detail, seq=seq, now=now)
    return LoadResult(len(loaded), skipped, lines, tuple(loaded), tuple(warnings))


def insert_lines(conn: Connection, lines: pa.Table, *, now: datetime, seq: int) -> int:
    """Bulk insert statement lines (columns ``LINE_COLUMNS``; amount as text or integer) of statements that
    are already stored. Line ids are ``<statement id>:<line no>``."""
    if lines.num_rows == 0:
        return 0
    lines = lines.set_column(lines.column_names.index("amount"), "amount", lines.column("amount").cast(pa.string()))
    conn.load_arrow("recon_lines_in", lines, _LINES_DDL)
    count = conn.execute(
        "INSERT INTO bank_statement_lines (id, statement_id, internal_account_id, line_no, line_date, amount, currency, "
        "type_code, bank_reference, customer_reference, text, created_at, change_seq) "
        "SELECT l.statement_id || ':' || CAST(l.line_no AS TEXT), l.statement_id, s.internal_account_id, l.line_no, "
        "l.line_date, l.amount, l.currency, l.type_code, l.bank_reference, l.customer_reference, l.text, :now, :seq "
        "FROM recon_lines_in l JOIN bank_statements s ON s.id = l.statement_id",
        {"now": now, "seq": seq})
    conn.execute("DROP TABLE recon_lines_in")
    return count if count >= 0 else lines.num_rows


def from_connector(parsed: Any) -> list[BankStatement]:
    """Adapt a ``connectors.bank.Statement`` (``parse_statement(path)``: ``accounts`` with one entry per
    account and statement, ``lines`` in file order) to :class:`BankStatement` values.

    The parser gives each statement its line counts (``credits_count + debits_count``) and keeps the lines in
    file order, so an account's lines are handed to its statements in order by those counts (this keeps two
    camt statements of one account and day apart). When the counts do not add up, a line goes to the first
    statement of its account dated on or after it (the latest when none is). A statement without a closing
    balance (a BAI2 file without a 015 code) keeps its lines for matching and gets no variance."""
    by_account: dict[str, list[Any]] = {}
    for acct in parsed.accounts:
        by_account.setdefault(acct.account_id, []).append(acct)
    lines_of: dict[str, list[Any]] = {}
    for ln in parsed.lines:
        if ln.account_id not in by_account:
            raise InputError(f"{ln.line_ref or parsed.path}: line of account {ln.account_id} outside any statement")
        lines_of.setdefault(ln.account_id, []).append(ln)
    assigned: dict[int, list[Any]] = {}
    for account_id, accounts in by_account.items():
        lines = lines_of.get(account_id, [])
        counts = [a.credits_count + a.debits_count for a in accounts]
        if sum(counts) == len(lines):
            start = 0
            for acct, count in zip(accounts, counts, strict=True):
                assigned[id(acct)] = lines[start:start + count]
                start += count
            continue
        ordered = sorted(accounts, key=lambda a: a.date)
        for ln in lines:
            target = next((a for a in ordered if a.date >= ln.date), ordered[-1])
            assigned.setdefault(id(target), []).append(ln)
    out = []
    for acct in parsed.accounts:
        out.append(BankStatement(
            account_identifier=acct.account_id, statement_date=acct.date,
            closing_balance=None if acct.closing_balance is None else int(acct.closing_balance),
            currency=acct.currency, opening_balance=None if acct.opening_balance is None else int(acct.opening_balance),
            lines=tuple(StatementLine(date=ln.date, amount=int(ln.amount_minor), currency=ln.currency,
                                      type_code=ln.type_code, bank_reference=ln.bank_reference,
                                      customer_reference=ln.customer_reference, text=ln.text)
                        for ln in assigned.get(id(acct), [])),
            statement_ref=acct.statement_id, source_format=parsed.format))
    return out


def read_statement_file(path: str, *, format: str | None = None, verify: bool = True,
                        **options: Any) -> tuple[Any, list[str]]:
    """Parse a bank statement file with ``connectors.bank.parse_statement`` (``options`` are its format
    options: a CSV statement's column mapping, ``encoding``...).

    Returns the parsed statement and the warnings to flag it with. With ``verify=False`` a file whose own
    controls fail (BAI2 trailer totals, balances that do not add up) is taken: the refusal it would get
    becomes a warning. A file that cannot be read is refused either way."""
    if format:
        options["format"] = format
    refusal: str | None = None
    try:
        parsed = parse_statement(path, **options)
    except ParseError as refused:
        if verify:
            raise
        parsed = parse_statement(path, **options, verify=False)
        refusal = str(refused)
    # the parser's own named warnings say what failed; the refusal's text stands in only when it gave none
    warnings = [getattr(w, "message", None) or str(w) for w in getattr(parsed, "warnings", None) or ()]
    if refusal and not warnings:
        warnings.append(refusal)
    return parsed, list(dict.fromkeys(warnings))


def load_statement_file(conn: Connection, path: str, *, internal_account: str | None = None,
                        format: str | None = None, actor: str = "system", verify: bool = True,
                        options: dict[str, Any] | None = None) -> LoadResult:
    """Parse a bank statement file (see :func:`read_statement_file`) and store it; statements taken with
    failed controls (``verify=False``) are stored flagged."""
    opts = dict(options or {})
    verify = verify and opts.pop("verify", True) is not False
    option_format = opts.pop("format", None)
    format = format or option_format
    parsed, warnings = read_statement_file(path, format=format, verify=verify, **opts)
    return load_statements(conn, from_connector(parsed), internal_account=internal_account, source_file=str(path),
                           actor=actor, warnings=warnings)
