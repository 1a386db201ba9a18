"""OFX / QFX statements: SGML (OFX 1.x, leaf tags unclosed) and XML (OFX 2.x), bank and credit-card.

Both versions are read by one small tokenizer over the tags (no XML parser, so no entity expansion can
happen; a DTD or entity declaration is refused). The header's CHARSET / XML encoding picks the decoding
(1252 for most 1.x files) and bytes that do not decode are an error naming the line.
``TRNAMT`` is signed as the bank writes it (credit +, debit -); balances come from ``LEDGERBAL`` (closing)
and ``AVAILBAL`` (closing available) at their ``DTASOF``; OFX has no opening balance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from xml.sax.saxutils import unescape

from connectors.bank.model import Statement, StatementAccount, StatementLine, with_line_totals
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


def _encoding(raw: bytes) -> str:
    head = raw[:600].decode("ascii", errors="replace")
    xml = re.search(r'encoding="([^"]+)"', head)
    if xml:
        return xml.group(1)
    charset = re.search(r"CHARSET:\s*(\S+)", head)
    if charset and charset.group(1).upper() not in ("NONE",):
        value = charset.group(1)
        return f"cp{value}" if value.isdigit() else value
    if re.search(r"ENCODING:\s*UTF-8", head, re.I):
        return "utf-8"
    return "cp1252"


def _tree(path: Path, text: str) -> _Node:
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
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
                if not (parent.children and parent.children[-1].tag == tag):
                    raise ParseError(path, line, f"</{tag}> closes nothing that is open")
            continue
        node = _Node(tag, line, unescape(content, {"&quot;": '"', "&apos;": "'"}) or None)
        stack[-1].children.append(node)
        if not content:
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
    if text is None:
        raise ParseError(path, line, f"{what} missing")
    try:
        return amount_to_minor(text, currency_exponent(currency), _PLAIN)
    except ValueError as exc:
        raise ParseError(path, line, f"{what}: {exc}") from None


def parse_ofx(path: str | Path) -> Statement:
    path = Path(path)
    raw = path.read_bytes()
    text = read_text(path, _encoding(raw))
    root = _tree(path, text)
    statements = list(root.iter("STMTRS")) + list(root.iter("CCSTMTRS"))
    if not statements:
        raise ParseError(path, None, "no bank (STMTRS) or credit card (CCSTMTRS) statement in the OFX file")
    accounts, lines = [], []
    for stmt in statements:
        currency = (stmt.value("CURDEF") or "USD").upper()
        acct = stmt.find("BANKACCTFROM") or stmt.find("CCACCTFROM")
        account_id = acct.value("ACCTID") if acct else None
        if not account_id:
            raise ParseError(path, stmt.line, "statement without BANKACCTFROM/CCACCTFROM ACCTID")
        stmt_lines = []
        for trn in stmt.iter("STMTTRN"):
            posted = _ofx_date(path, trn.line, trn.value("DTPOSTED"))
            if posted is None:
                raise ParseError(path, trn.line, "STMTTRN without DTPOSTED")
            trn_currency = (trn.value("CURRENCY/CURSYM") or currency).upper()
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
        closing = _minor(path, ledger.line, ledger.value("BALAMT"), currency, "LEDGERBAL BALAMT") if ledger else None
        closing_av = _minor(path, avail.line, avail.value("BALAMT"), currency, "AVAILBAL BALAMT") if avail else None
        as_of = (_ofx_date(path, ledger.line, ledger.value("DTASOF")) if ledger else None) \
            or _ofx_date(path, stmt.line, stmt.value("BANKTRANLIST/DTEND")) \
            or max((x.date for x in stmt_lines), default=None)
        if as_of is None:
            raise ParseError(path, stmt.line, "statement has no date (no LEDGERBAL DTASOF, DTEND or lines)")
        accounts.append(with_line_totals(StatementAccount(
            account_id=account_id, currency=currency, date=as_of, closing_balance=closing,
            closing_available=closing_av, bank_id=acct.value("BANKID") if acct else None), stmt_lines))
        lines.extend(stmt_lines)
    return Statement(format="ofx", path=str(path), accounts=accounts, lines=lines)
