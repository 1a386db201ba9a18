"""Masking secrets in store and warehouse URLs before they are printed or logged."""

from __future__ import annotations

import re

MASK = "***"
# user:password@ in a URL's authority
_USERINFO = re.compile(r"(//[^:/@\s]*):[^@/\s]*@")
# password=... as a URL query parameter or a libpq keyword DSN value (quoted or bare)
_SECRET_VALUE = re.compile(
    r"(?i)(?<![\w])(password|passwd|pwd|sslpassword|secret|token|api_key)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)")


def redact_url(url: str | None) -> str:
    """``url`` with every password masked: ``user:pass@``, ``?password=...``, and ``password=...`` of a
    keyword DSN (``host=db password='a b'``)."""
    if not url:
        return url or ""
    masked = _USERINFO.sub(rf"\1:{MASK}@", url)
    return _SECRET_VALUE.sub(rf"\1\2{MASK}", masked)
