"""An HTTP client for source APIs: retries with exponential backoff on 429/5xx and transport errors
(honouring ``Retry-After``, capped), timeouts, and a simple client-side rate limiter. No global state:
each connector run builds its own client; tests inject a transport and a no-op ``sleep``.
"""

from __future__ import annotations

import functools
import inspect
import json as jsonlib
import os
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from connectors.common.errors import SourceError

#: the first backoff's scale: ``multiplier`` in newer tenacity, which deprecates the older ``initial``
_BACKOFF_SCALE = "multiplier" if "multiplier" in inspect.signature(wait_exponential_jitter).parameters else "initial"

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 60.0


class _RetryableResponse(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def retry_after_seconds(value: str | None, *, now: datetime | None = None,
                        cap: float = MAX_RETRY_AFTER_SECONDS) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date; capped; ``None`` if absent/unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(seconds, cap))


class RateLimiter:
    """At most ``per_second`` requests per second, spaced evenly (a leaky bucket of one)."""

    def __init__(self, per_second: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / per_second if per_second else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), built once per
    setting of those variables and shared by every client: loading the CA bundle costs tens of milliseconds
    a client."""
    return httpx.create_ssl_context()


class HttpClient:
    """JSON over HTTP with retries. ``auth`` is anything httpx accepts (a tuple for basic auth, an
    ``httpx.Auth``); secrets are passed in by the caller and never logged."""

    def __init__(self, base_url: str, *, headers: dict | None = None, auth: Any = None,
                 timeout: float = 30.0, max_retries: int = 5, rate_limit_per_second: float | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 max_retry_after: float = MAX_RETRY_AFTER_SECONDS, decimal_floats: bool = False):
        #: parse JSON numbers with a fraction as ``Decimal`` (sources that send amounts in major units)
        self.decimal_floats = decimal_floats
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.sleep = sleep
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.limiter = RateLimiter(rate_limit_per_second, sleep=sleep)
        self.requests_made = 0
        self._client = httpx.Client(base_url=self.base_url, headers=headers, auth=auth,
                                    timeout=httpx.Timeout(timeout), transport=transport,
                                    verify=_tls_context(os.environ.get("SSL_CERT_FILE"),
                                                        os.environ.get("SSL_CERT_DIR")))

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict | list:
        return self.request_json("GET", path, params=params)

    def post_json(self, path: str, json: Any = None, params: Mapping[str, Any] | None = None) -> dict | list:
        return self.request_json("POST", path, params=params, json=json)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableResponse):
            header = retry_after_seconds(exc.response.headers.get("Retry-After"), cap=self.max_retry_after)
            if header is not None:
                return header
        return wait_exponential_jitter(**{_BACKOFF_SCALE: self.backoff_initial}, max=self.backoff_max)(state)

    def get_bytes(self, path: str, params: Mapping[str, Any] | None = None) -> bytes:
        """The body of a GET as bytes (a report file), with the same retries and errors as JSON requests."""
        return self._send("GET", path, params=params).content

    def request_json(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                     json: Any = None) -> dict | list:
        response = self._send(method, path, params=params, json=json)
        try:
            if self.decimal_floats:
                return jsonlib.loads(response.content, parse_float=Decimal)
            return response.json()
        except ValueError as exc:
            raise SourceError(f"{method} {response.url} returned a body that is not JSON: {response.text[:200]!r}",
                              method=method, url=str(response.url), status=response.status_code) from exc

    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              json: Any = None) -> httpx.Response:
        """One request with retries; an error status after them (or a 4xx at once) is a ``SourceError``."""
        url = self._client.build_request(method, path, params=params).url

        def attempt() -> httpx.Response:
            self.limiter.wait()
            self.requests_made += 1
            response = self._client.request(method, path, params=params, json=json)
            if response.status_code in RETRY_STATUSES:
                raise _RetryableResponse(response)
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type((_RetryableResponse, httpx.TransportError)),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            response = retrying(attempt)
        except _RetryableResponse as exc:
            status = exc.response.status_code
            raise SourceError(f"{method} {url} failed with HTTP {status} after {self.max_retries} retries",
                              method=method, url=str(url), status=status) from None
        except httpx.TransportError as exc:
            raise SourceError(f"{method} {url} failed after {self.max_retries} retries: {exc!r}",
                              method=method, url=str(url)) from exc
        if response.status_code >= 400:
            raise SourceError(
                f"{method} {url} failed with HTTP {response.status_code}: {response.text[:300]}",
                method=method, url=str(url), status=response.status_code)
        if response.is_redirect:  # not followed: the credentials headers would go to the other host too
            raise SourceError(
                f"{method} {url} was redirected (HTTP {response.status_code}) to "
                f"{response.headers.get('Location')}; redirects are not followed",
                method=method, url=str(url), status=response.status_code)
        return response


def json_api_client(base_url: str, headers: Mapping[str, str | None], **client_options: Any) -> HttpClient:
    """A client that asks for JSON and reads fractions as ``Decimal``, sending each of ``headers`` that
    has a value (an API key or token that is not configured is left out, not sent empty).

    Args:
        base_url: the API root.
        headers: header name -> value or ``None``.
        client_options: passed to ``HttpClient`` (timeouts, retries, transport, auth...).
    """
    sent = {"Accept": "application/json", **{name: value for name, value in headers.items() if value}}
    return HttpClient(base_url, headers=sent, decimal_floats=True, **client_options)


def api_key_client(service: str, header: str, *, env_base_url: str, default_base_url: str,
                   env_api_key: str) -> Callable[..., HttpClient]:
    """The ``make_client`` of a JSON API that authenticates with one API key header, as Lithic and Peach do:
    ``make_client(base_url=None, *, api_key=None, **client_options)`` takes the API root from ``base_url``,
    else ``$env_base_url``, else ``default_base_url`` (production), and the key from ``api_key``, else
    ``$env_api_key``; ``client_options`` go to ``HttpClient``."""

    def make_client(base_url: str | None = None, *, api_key: str | None = None,
                    **client_options: Any) -> HttpClient:
        return json_api_client(base_url or os.environ.get(env_base_url) or default_base_url,
                               {header: api_key or os.environ.get(env_api_key)}, **client_options)

    make_client.__doc__ = (f"An ``HttpClient`` for {service} with the ``{header}`` header: the API root is "
                           f"``base_url``, else ``${env_base_url}``, else production (a local URL in tests); the "
                           f"key is ``api_key``, else ``${env_api_key}``; ``client_options`` go to ``HttpClient``.")
    return make_client
