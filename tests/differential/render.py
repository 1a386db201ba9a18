"""Render generated accounts as statement files, in the shapes banks write them."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from tests.differential.model import Account, decimal_text


def bai2(accounts: list[Account], *, funds: list[str], split_text: list[bool], newline: str,
         split_summary: bool = False) -> str:
    day = accounts[0].day
    records = [f"01,BANKSENDER,ACMECORP,{day:%y%m%d},0600,{len(accounts)},,,2/",
               f"02,ACMECORP,BANKSENDER,1,{day:%y%m%d},2359,USD,2/"]
    group_total = 0
    for i, acct in enumerate(accounts):
        start = len(records)
        if split_summary:  # a summary group cut by the record's end and continued in an 88
            records.append(f"03,{acct.account_id},{acct.currency},010,{acct.opening}/")
            records.append(f"88,,,015,{acct.closing},,/")
        else:
            records.append(f"03,{acct.account_id},{acct.currency},010,{acct.opening},,,015,{acct.closing},,/")
        total = acct.opening + acct.closing
        for j, line in enumerate(acct.lines):
            code = "195" if line.amount > 0 else "495"
            text = line.text.replace(",", " ").replace("/", " ")
            f = funds[(i + j) % len(funds)]
            if split_text[(i + j) % len(split_text)] and len(text) > 3:
                records.append(f"16,{code},{abs(line.amount)},{f},{line.ref},CUST{j},{text[:3]}/")
                records.append(f"88,{text[3:]}/")
            else:
                records.append(f"16,{code},{abs(line.amount)},{f},{line.ref},CUST{j},{text}/")
            total += abs(line.amount)
        records.append(f"49,{total},{len(records) - start + 1}/")
        group_total += total
    records.append(f"98,{group_total},{len(accounts)},{len(records)}/")
    records.append(f"99,{group_total},1,{len(records) + 1}/")
    return newline.join(records) + newline


def ofx(accounts: list[Account], *, xml: bool, charset: str, newline: str, close_leaves: bool = False) -> str:
    def leaf(tag: str, value: str) -> str:
        return f"<{tag}>{value}</{tag}>" if xml or close_leaves else f"<{tag}>{value}"

    day = accounts[0].day
    parts = []
    if xml:
        parts.append('<?xml version="1.0" encoding="UTF-8" standalone="no"?>')
        parts.append('<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>')
    else:
        parts.append(f"OFXHEADER:100{newline}DATA:OFXSGML{newline}VERSION:102{newline}SECURITY:NONE{newline}"
                     f"ENCODING:USASCII{newline}CHARSET:{charset}{newline}COMPRESSION:NONE{newline}"
                     f"OLDFILEUID:NONE{newline}NEWFILEUID:NONE{newline}")
    parts.append("<OFX>")
    parts.append("<SIGNONMSGSRSV1><SONRS><STATUS>" + leaf("CODE", "0") + leaf("SEVERITY", "INFO") + "</STATUS>"
                 + leaf("DTSERVER", f"{day:%Y%m%d}120000") + leaf("LANGUAGE", "ENG") + "</SONRS></SIGNONMSGSRSV1>")
    parts.append("<BANKMSGSRSV1>")
    for i, acct in enumerate(accounts):
        parts.append("<STMTTRNRS>" + leaf("TRNUID", str(i + 1)) + "<STATUS>" + leaf("CODE", "0")
                     + leaf("SEVERITY", "INFO") + "</STATUS><STMTRS>" + leaf("CURDEF", acct.currency)
                     + "<BANKACCTFROM>" + leaf("BANKID", "121000248") + leaf("ACCTID", acct.account_id)
                     + leaf("ACCTTYPE", "CHECKING") + "</BANKACCTFROM>")
        start = min([x.day for x in acct.lines] + [acct.day])
        parts.append("<BANKTRANLIST>" + leaf("DTSTART", f"{start:%Y%m%d}") + leaf("DTEND", f"{acct.day:%Y%m%d}"))
        for line in acct.lines:
            sign = "-" if line.amount < 0 else ""
            parts.append("<STMTTRN>" + leaf("TRNTYPE", "CREDIT" if line.amount > 0 else "DEBIT")
                         + leaf("DTPOSTED", f"{line.day:%Y%m%d}120000") + leaf(
                             "TRNAMT", sign + decimal_text(line.amount, acct.currency))
                         + leaf("FITID", line.ref) + leaf("NAME", line.text[:32].replace("&", " ")) + "</STMTTRN>")
        parts.append("</BANKTRANLIST>")
        closing = ("-" if acct.closing < 0 else "") + decimal_text(acct.closing, acct.currency)
        parts.append("<LEDGERBAL>" + leaf("BALAMT", closing) + leaf("DTASOF", f"{acct.day:%Y%m%d}")
                     + "</LEDGERBAL></STMTRS></STMTTRNRS>")
    parts.append("</BANKMSGSRSV1></OFX>")
    head = 2 if xml else 1
    return newline.join(parts[:head]) + newline + newline.join(parts[head:]) + newline


def camt053(accounts: list[Account], *, version: str, encoding: str, newline: str, offset_hours: int = 0,
            minutes: list[int] = (0,)) -> str:
    """``offset_hours`` != 0 writes booking times as UTC instants (``...Z``) of the statement's local day
    in that offset (the statement's own timestamps carry it); ``minutes`` picks the local times."""
    day = accounts[0].day
    zone = f"{'+' if offset_hours >= 0 else '-'}{abs(offset_hours):02d}:00"
    created = f"{day}T18:00:00{zone if offset_hours else ''}"
    parts = [f'<?xml version="1.0" encoding="{encoding}"?>',
             f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}">',
             "<BkToCstmrStmt>", f"<GrpHdr><MsgId>MSG{day:%Y%m%d}</MsgId><CreDtTm>{created}</CreDtTm></GrpHdr>"]

    def booked(line_day, k: int) -> str:
        if not offset_hours:
            return f"<Dt>{line_day}</Dt>"
        local = datetime.combine(line_day, time()) + timedelta(minutes=minutes[k % len(minutes)])
        return f"<DtTm>{(local - timedelta(hours=offset_hours)):%Y-%m-%dT%H:%M:%S}Z</DtTm>"

    def bal(code: str, amount: int, currency: str) -> str:
        return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"{currency}\">"
                f"{decimal_text(amount, currency)}</Amt><CdtDbtInd>{'DBIT' if amount < 0 else 'CRDT'}</CdtDbtInd>"
                f"<Dt><Dt>{day}</Dt></Dt></Bal>")

    for i, acct in enumerate(accounts):
        parts.append(f"<Stmt><Id>STMT{i}</Id><CreDtTm>{created}</CreDtTm>")
        parts.append(f"<Acct><Id><Othr><Id>{acct.account_id}</Id></Othr></Id><Ccy>{acct.currency}</Ccy></Acct>")
        parts.append(bal("OPBD", acct.opening, acct.currency))
        parts.append(bal("CLBD", acct.closing, acct.currency))
        for k, line in enumerate(acct.lines):
            parts.append(f"<Ntry><Amt Ccy=\"{acct.currency}\">{decimal_text(line.amount, acct.currency)}</Amt>"
                         f"<CdtDbtInd>{'CRDT' if line.amount > 0 else 'DBIT'}</CdtDbtInd><Sts>BOOK</Sts>"
                         f"<BookgDt>{booked(line.day, k)}</BookgDt><ValDt><Dt>{line.day}</Dt></ValDt>"
                         f"<AcctSvcrRef>{line.ref}</AcctSvcrRef><AddtlNtryInf>{line.text}</AddtlNtryInf></Ntry>")
        parts.append("</Stmt>")
    parts.append("</BkToCstmrStmt></Document>")
    return newline.join(parts) + newline


def swift_amount(minor: int, currency: str) -> str:
    """``1234,56``; SWIFT writes the decimal comma even without decimals (``1234,`` JPY)."""
    text = decimal_text(minor, currency, ",")
    return text if "," in text else text + ","


def mt940_message(acct: Account, n: int, *, german: bool, entry_date: bool, newline: str) -> str:
    def balance(tag: str, amount: int) -> str:
        return f":{tag}:{'D' if amount < 0 else 'C'}{acct.day:%y%m%d}{acct.currency}" \
               f"{swift_amount(amount, acct.currency)}"

    rows = [f":20:STMT{n:05d}", f":25:{acct.account_id}", f":28C:{n:05d}/001", balance("60F", acct.opening)]
    for j, line in enumerate(acct.lines):
        mark = "C" if line.amount > 0 else "D"
        entry = f"{line.day:%m%d}" if entry_date else ""
        rows.append(f":61:{line.day:%y%m%d}{entry}{mark}{swift_amount(line.amount, acct.currency)}"
                    f"NTRFCUST{j}//{line.ref[:16]}")
        if german:
            rows.append(f":86:166?00SEPA-GUTSCHRIFT?20EREF+E2E{j}?21SVWZ+{line.text}?32{line.text[:27]}")
        else:
            rows.append(f":86:/TRTP/SEPA OVERBOEKING/NAME/{line.text}/REMI/{line.text}/EREF/E2E{j}")
    rows.append(balance("62F", acct.closing))
    rows.append("-")
    return newline.join(rows) + newline
