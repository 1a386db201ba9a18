"""What every connector shares: the raw-record shape, an HTTP client with retries and rate limiting,
cursor helpers with a lookback window, errors that name where the input went wrong, and file readers."""

from connectors.common.errors import ParseError, SourceError
from connectors.common.records import ExtractResult, RawRecord

__all__ = ["ExtractResult", "ParseError", "RawRecord", "SourceError"]
