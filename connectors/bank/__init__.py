"""Bank statements: BAI2, ISO 20022 camt.053 (and camt.052/054), OFX/QFX (SGML and XML), SWIFT MT940/MT942,
CSV.

The stable entry point (used by reconciliation) is ``parse_statement(path, format=None, **options)``
returning a ``Statement`` (accounts with opening/closing balances per date, signed lines); see
docs/connectors.md. ``parse_file`` is the ingest registry's parser: the same statement as raw records of
streams ``statement_lines`` and ``statement_balances`` (landed for reconciliation, not posted).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from connectors.bank.bai2 import parse_bai2
from connectors.bank.camt053 import parse_camt
from connectors.bank.csv_statement import parse_csv_statement
from connectors.bank.model import Statement, StatementAccount, StatementLine, StatementWarning
from connectors.bank.mt940 import parse_mt940
from connectors.bank.ofx import parse_ofx
from connectors.common.errors import ParseError
from connectors.common.records import RawRecord

FORMATS = ("bai2", "camt053", "ofx", "mt940", "csv")

__all__ = ["FORMATS", "Statement", "StatementAccount", "StatementLine", "StatementWarning", "detect_format",
           "parse_file", "parse_statement"]

_MT940_FIELD = re.compile(rb"(?m)^:(20|25|28C|60F|60M|61|13D|34F):")


def _looks_like_mt940(head: bytes) -> bool:
    """SWIFT envelope ``{1:F01...``, or a ``:20:`` field with at least two more MT940/MT942 fields."""
    if head.startswith(b"{1:") or head.startswith(b"{4:"):
        return True
    found = {m.group(1) for m in _MT940_FIELD.finditer(head.replace(b"\r\n", b"\n"))}
    return b"20" in found and len(found) >= 3


def detect_format(path: str | Path) -> str:
    """Tell the format from the file's first bytes; the extension only decides CSV, and only for a file that
    is none of the others by content (an MT940 named ``.txt`` is MT940)."""
    path = Path(path)
    head = path.read_bytes()[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"01,"):
        return "bai2"
    if b"OFXHEADER" in head or b"<OFX>" in head.upper():
        return "ofx"
    if head.startswith(b"<") and (b"camt.05" in head or b"<Document" in head):
        return "camt053"
    if _looks_like_mt940(head):
        return "mt940"
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return "csv"
    raise ParseError(path, 1, "cannot tell the statement format (BAI2, camt.053, OFX, MT940 or CSV); "
                              "pass format=")


def parse_statement(path: str | Path, format: str | None = None, **options: Any) -> Statement:
    """Parse a bank statement file.

    Args:
        path: the file.
        format: ``bai2`` | ``camt053`` (also camt052/camt054) | ``ofx`` | ``mt940`` (also mt942) | ``csv``;
            detected from the content when omitted.
        options: format options: CSV column mapping (see ``csv_statement``) or ``csv_mapping={...}``;
            BAI2 ``verify=False`` to accept wrong control totals (reported in ``Statement.warnings``);
            OFX ``currency=`` for files without a ``CURDEF``; ``encoding``.
    """
    path = Path(path)
    kind = format or detect_format(path)
    if kind == "bai2":
        return parse_bai2(path, **{k: v for k, v in options.items() if k in ("verify", "encoding")})
    if kind in ("camt053", "camt052", "camt054", "camt"):
        return parse_camt(path)
    if kind in ("ofx", "qfx"):
        return parse_ofx(path, **{k: v for k, v in options.items() if k in ("currency", "encoding")})
    if kind in ("mt940", "mt942", "swift"):
        return parse_mt940(path, **{k: v for k, v in options.items() if k == "encoding"})
    if kind == "csv":
        return parse_csv_statement(path, options.pop("csv_mapping", None), **options)
    raise ValueError(f"{path}: unknown statement format {kind!r}; expected one of {', '.join(FORMATS)}")


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in d.items()}


def statement_records(stmt: Statement) -> list[RawRecord]:
    """The statement as raw records: one per line and one per account/date with its balances."""
    records: list[RawRecord] = []
    seq: dict[tuple[str, str], int] = {}
    for line in stmt.lines:
        key = (line.account_id, line.date.isoformat())
        seq[key] = seq.get(key, 0) + 1
        raw = _jsonable(asdict(line))
        raw.pop("line_ref")
        fields = {**raw, "type": "statement_line", "format": stmt.format}
        records.append(RawRecord(
            source="bank", stream="statement_lines",
            object_id=f"{line.account_id}:{line.date.isoformat()}:{seq[key]}",
            cursor_value=line.date.isoformat(), raw=raw, fields=fields, record_ref=line.line_ref))
    reports: dict[str, int] = {}
    for account in stmt.accounts:
        raw = _jsonable(asdict(account))
        # a control of the file's own that failed flags the balance record (kept, not dropped); a warning
        # of no account (a BAI2 group or file trailer) flags every account
        warnings = [f"{w.code}: {w.message}" for w in stmt.warnings
                    if w.account_id is None or (w.account_id == account.account_id
                                                and w.date in (None, account.date))]
        extra = {"warnings": warnings} if warnings else {}
        # a file may report the same account and date twice (two statements, two 03 records)
        key = f"{account.account_id}:{account.currency}:{account.date.isoformat()}"
        reports[key] = reports.get(key, 0) + 1
        records.append(RawRecord(
            source="bank", stream="statement_balances",
            object_id=key if reports[key] == 1 else f"{key}:{reports[key]}",
            cursor_value=account.date.isoformat(), raw=raw,
            fields={**raw, "type": "statement_balance", "format": stmt.format, **extra}, record_ref=stmt.path))
    return records


def parse_file(path: Path, **options: Any) -> list[RawRecord]:
    return statement_records(parse_statement(path, **options))
