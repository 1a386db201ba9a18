"""OFX / QFX statements: SGML (OFX 1.x, leaf tags unclosed) and XML (OFX 2.x), bank and credit-card.

Both versions are read by one small tokenizer over the tags (no XML parser, so no entity expansion can
happen; a DTD or entity declaration is refused). The header's CHARSET / XML encoding picks the decoding
(1252 for most 1.x files) and bytes that do not decode are an error naming the line.
``TRNAMT`` is signed as the bank writes it (credit +, debit -); balances come from ``LEDGERBAL`` (closing)
and ``AVAILBAL`` (closing available) at their ``DTASOF``; OFX has no opening balance.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from xml.sax.saxutils import unescape

from connectors.bank.model import (
    Statement,
    StatementAccount,
    StatementLine,
    StatementWarning,
    with_line_totals,
)
from connectors.common.errors import ParseError
from connectors.common.files import NumberFormat, amount_to_minor, read_text
from ledger_common.money import currency_exponent

_TOKEN = re.compile(r"<(/?)([A-Za-z0-9_.]+)>([^<]*)")
_PLAIN = NumberFormat(".", None)


@dataclass
class _Node:
    tag: str
    line: int
    text: str | None = None
    children: list[_Node] = field(default_factory=list)

    def find(self, path: str) -> _Node | None:
        node: _Node | None = self
        for part in path.split("/"):
            node = next((c for c in node.children if c.tag == part), None) if node else None
        return node

    def value(self, path: str) -> str | None:
        node = self.find(path)
        return node.text if node is not None and node.text else None

    def iter(self, tag: str):
        for c in self.children:
            if c.tag == tag:
                yield c
            yield from c.iter(tag)


_COMMENT = re.compile(r"<!--.*?-->", re.S)
# Elements that hold a value: opened empty (``<CURDEF>`` with nothing after it in SGML) they are an empty
# value, never an aggregate that would swallow the elements after them.
_LEAVES = frozenset({
    "CURDEF", "BALAMT", "DTASOF", "TRNAMT", "DTPOSTED", "DTAVAIL", "DTUSER", "FITID", "NAME", "MEMO",
    "CHECKNUM", "REFNUM", "TRNTYPE", "BANKID", "BRANCHID", "ACCTID", "ACCTTYPE", "DTSTART", "DTEND",
    "CURSYM", "CURRATE", "SIC", "PAYEEID", "CORRECTFITID", "CORRECTACTION", "SRVRTID", "TRNUID", "CODE",
    "SEVERITY", "MESSAGE", "DTSERVER", "LANGUAGE", "ORG", "FID", "INTU.BID", "INTU.USERID", "MKTGINFO",
})


def _charset_codec(value: str) -> str | None:
    """The Python codec for an OFX 1.x ``CHARSET`` value (``1252``, ``ISO-8859-1``, ``8859-1``)."""
    value = value.strip().upper()
    iso = re.fullmatch(r"(?:ISO[-_ ]?)?8859[-_ ]?(\d{1,2})", value)
    if iso:
        return f"iso-8859-{iso.group(1)}"
    if value.isdigit():
        return f"cp{value}"
    try:
        return codecs.lookup(value).name
    except LookupError:
        return None


def _encoding(path: Path, raw: bytes) -> str:
    """The file's text encoding from its header (OFX 1.x ``ENCODING``/``CHARSET``, written one per line or
    all on one line) or XML declaration; cp1252 when it names none."""
    head = raw[:1000].decode("ascii", errors="replace")
    end = head.find("<OFX>")
    header = head if end < 0 else head[:end]

    def line_of(pos: int) -> int:
        return head.count("\n", 0, pos) + 1

    xml = re.search(r"<\?xml[^>]*encoding=[\"']([^\"']+)[\"']", header)
    if xml:
        try:
            return codecs.lookup(xml.group(1)).name
        except LookupError:
            raise ParseError(path, line_of(xml.start()), f"unknown XML encoding {xml.group(1)!r}") from None
    if re.search(r"ENCODING:\s*(?:UTF-8|UNICODE)\b", header, re.I):
        return "utf-8"
    charset = re.search(r"CHARSET:\s*([A-Za-z0-9_.-]+)", header)
    if charset and charset.group(1).upper() != "NONE":
        codec = _charset_codec(charset.group(1))
        if codec is None:
            raise ParseError(path, line_of(charset.start()),
                             f"unknown CHARSET {charset.group(1)!r} in the OFX header; pass encoding=")
        return codec
    return "cp1252"


def _without_comments(path: Path, text: str) -> str:
    """``<!-- ... -->`` comments removed (their newlines kept, so line numbers stay right); a comment
    that is never closed would hide or expose data by guesswork, so it is an error."""
    text = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    if "<!--" in text:
        raise ParseError(path, text[: text.find("<!--")].count("\n") + 1, "comment <!-- is never closed (-->)")
    return text


def _tree(path: Path, text: str) -> _Node:
    if "<!DOCTYPE" in text or "<!ENTITY" in text:  # comments are already removed
        line = text[: text.find("<!")].count("\n") + 1
        raise ParseError(path, line, "refused: DTD or entity declaration in an OFX file")
    start = text.find("<OFX>")
    if start < 0:
        raise ParseError(path, None, "not an OFX file (no <OFX> element)")
    root = _Node("ROOT", 1)
    stack = [root]
    line_base = text[:start].count("\n") + 1
    body = text[start:]
    for m in _TOKEN.finditer(body):
        closing, tag, content = m.group(1), m.group(2).upper(), m.group(3).strip()
        line = line_base + body.count("\n", 0, m.start())
        if closing:
            # close the matching open aggregate, or the leaf just opened (XML style)
            for depth in range(len(stack) - 1, 0, -1):
                if stack[depth].tag == tag:
                    del stack[depth:]
                    break
            else:
                parent = stack[-1]
                if not (parent.children and parent.children[-1].tag == tag) and tag not in _LEAVES:
                    raise ParseError(path, line, f"</{tag}> closes nothing that is open")
            continue
        node = _Node(tag, line, unescape(content, {"&quot;": '"', "&apos;": "'"}) or None)
        stack[-1].children.append(node)
        if not content and tag not in _LEAVES:
            stack.append(node)  # an aggregate (its children follow)
    if len(stack) > 1 and any(n.tag == "OFX" for n in stack):
        raise ParseError(path, line_base + body.count("\n"), "file ends inside <OFX> (truncated?)")
    return root


def _ofx_date(path: Path, line: int, text: str | None) -> date | None:
    if not text:
        return None
    m = re.match(r"^(\d{4})(\d{2})(\d{2})", text)
    if not m:
        raise ParseError(path, line, f"date {text!r} is not YYYYMMDD...")
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ParseError(path, line, f"date {text!r} is not a calendar date") from None


def _minor(path: Path, line: int, text: str | None, currency: str, what: str) -> int:
    """Minor units of an OFX amount: ``-2000,00`` (decimal comma), ``+ 12.00`` and ``1234.5`` are read;
    a thousands separator is refused (OFX writes none, so ``1,234.56`` is ambiguous)."""
    if text is None:
        raise ParseError(path, line, f"{what} missing")
    value = re.sub(r"^([+-])\s+", r"\1", text.strip())
    if "," in value and "." not in value and value.count(",") == 1:
        value = value.replace(",", ".")
    try:
        return amount_to_minor(value, currency_exponent(currency), _PLAIN)
    except ValueError as exc:
        raise ParseError(path, line, f"{what}: {exc}") from None


def parse_ofx(path: str | Path, *, currency: str | None = None, encoding: str | None = None) -> Statement:
    """Parse an OFX/QFX file. ``currency`` names the statement currency for files whose ``CURDEF`` is
    missing or empty (without it such a file is refused: the currency is never guessed); ``encoding``
    overrides the header's."""
    path = Path(path)
    raw = path.read_bytes()
    text = _without_comments(path, read_text(path, encoding or _encoding(path, raw)))
    root = _tree(path, text)
    statements = list(root.iter("STMTRS")) + list(root.iter("CCSTMTRS"))
    if not statements:
        raise ParseError(path, None, "no bank (STMTRS) or credit card (CCSTMTRS) statement in the OFX file")
    given = currency.strip().upper() if currency else None
    accounts, lines, warnings = [], [], []
    for stmt in statements:
        curdef = (stmt.value("CURDEF") or "").strip().upper()
        if curdef and given and curdef != given:
            raise ParseError(path, stmt.line, f"CURDEF is {curdef} but the caller named {given}")
        currency = curdef or given or ""
        if not currency:
            raise ParseError(path, stmt.line, "statement has no CURDEF (or an empty one); the currency is "
                                              "not guessed: pass the statement currency (currency=EUR)")
        _check_currency(path, stmt.line, currency)
        acct = stmt.find("BANKACCTFROM") or stmt.find("CCACCTFROM")
        account_id = acct.value("ACCTID") if acct else None
        if not account_id:
            raise ParseError(path, stmt.line, "statement without BANKACCTFROM/CCACCTFROM ACCTID")
        stmt_lines = []
        for trn in stmt.iter("STMTTRN"):
            posted = _ofx_date(path, trn.line, trn.value("DTPOSTED"))
            if posted is None:
                raise ParseError(path, trn.line, "STMTTRN without DTPOSTED")
            trn_currency = (trn.value("CURRENCY/CURSYM") or currency).strip().upper()
            _check_currency(path, trn.line, trn_currency)
            text_parts = [p for p in (trn.value("NAME"), trn.value("MEMO")) if p]
            stmt_lines.append(StatementLine(
                account_id=account_id, currency=trn_currency, date=posted,
                amount_minor=_minor(path, trn.line, trn.value("TRNAMT"), trn_currency, "TRNAMT"),
                type_code=trn.value("TRNTYPE"), bank_reference=trn.value("FITID"),
                customer_reference=trn.value("CHECKNUM") or trn.value("REFNUM"),
                text=" ".join(text_parts) or None, value_date=_ofx_date(path, trn.line, trn.value("DTAVAIL")),
                line_ref=f"{path}, line {trn.line}"))
        ledger = stmt.find("LEDGERBAL")
        avail = stmt.find("AVAILBAL")
        # an empty <BALAMT></BALAMT> is a balance not given, not a zero balance
        closing = _minor(path, ledger.line, ledger.value("BALAMT"), currency, "LEDGERBAL BALAMT") \
            if ledger and ledger.value("BALAMT") else None
        closing_av = _minor(path, avail.line, avail.value("BALAMT"), currency, "AVAILBAL BALAMT") \
            if avail and avail.value("BALAMT") else None
        as_of = (_ofx_date(path, ledger.line, ledger.value("DTASOF")) if ledger else None) \
            or _ofx_date(path, stmt.line, stmt.value("BANKTRANLIST/DTEND")) \
            or max((x.date for x in stmt_lines), default=None)
        if as_of is None:
            raise ParseError(path, stmt.line, "statement has no date (no LEDGERBAL DTASOF, DTEND or lines)")
        accounts.append(with_line_totals(StatementAccount(
            account_id=account_id, currency=currency, date=as_of, closing_balance=closing,
            closing_available=closing_av, bank_id=acct.value("BANKID") if acct else None), stmt_lines))
        lines.extend(stmt_lines)
    warnings.extend(_ledger_balance_checks(path, accounts))
    return Statement(format="ofx", path=str(path), accounts=accounts, lines=lines, warnings=warnings)


def _check_currency(path: Path, line: int, currency: str) -> None:
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ParseError(path, line, f"currency {currency!r} is not a 3-letter ISO 4217 code")


def _ledger_balance_checks(path: Path, accounts: list[StatementAccount]) -> list[StatementWarning]:
    """OFX gives a closing LEDGERBAL but no opening balance, so the check needs two statements of one
    account in the file: the earlier LEDGERBAL + the later statement's lines must be its LEDGERBAL."""
    out: list[StatementWarning] = []
    previous: dict[tuple[str, str], StatementAccount] = {}
    for acct in accounts:
        key = (acct.account_id, acct.currency)
        before = previous.get(key)
        previous[key] = acct
        if before is None or before.closing_balance is None or acct.closing_balance is None:
            continue
        expected = before.closing_balance + acct.credits_total - acct.debits_total
        if expected != acct.closing_balance:
            out.append(StatementWarning(
                "balance_mismatch",
                f"{path}: account {acct.account_id} {acct.currency}: LEDGERBAL {before.closing_balance} on "
                f"{before.date.isoformat()} + credits {acct.credits_total} - debits {acct.debits_total} = "
                f"{expected}, but LEDGERBAL on {acct.date.isoformat()} is {acct.closing_balance}",
                acct.account_id, acct.date))
    return out
