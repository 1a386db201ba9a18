"""HttpClient against a local HTTP server: retries on 429 (Retry-After) and 500, the final error, the
rate limiter. Sleeps are recorded instead of slept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from werkzeug import Response

from connectors.common.errors import SourceError
from connectors.common.http import HttpClient, RateLimiter, retry_after_seconds


def _client(httpserver, sleeps, **kw):
    return HttpClient(httpserver.url_for("/"), sleep=sleeps.append, **kw)


def test_429_with_retry_after_then_success(httpserver):
    httpserver.expect_ordered_request("/v1/things").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "7"}))
    httpserver.expect_ordered_request("/v1/things").respond_with_json({"ok": True})
    sleeps: list[float] = []
    with _client(httpserver, sleeps) as client:
        assert client.get_json("/v1/things") == {"ok": True}
        assert client.requests_made == 2
    assert sleeps == [7.0]


def test_500_then_success_backs_off(httpserver):
    for status in (500, 503, 500):
        httpserver.expect_ordered_request("/x").respond_with_data("boom", status=status)
    httpserver.expect_ordered_request("/x").respond_with_json([1, 2])
    sleeps: list[float] = []
    with _client(httpserver, sleeps, backoff_initial=4, backoff_max=30) as client:
        assert client.get_json("/x") == [1, 2]
        assert client.requests_made == 4
    # exponential from the initial wait, plus at most one second of jitter: 4, 8, 16 s
    assert len(sleeps) == 3
    for wait, base in zip(sleeps, (4, 8, 16), strict=True):
        assert base <= wait <= base + 1, sleeps
    assert sleeps[0] < sleeps[1] < sleeps[2]


def test_backoff_stops_growing_at_its_cap(httpserver):
    for _ in range(4):
        httpserver.expect_ordered_request("/x").respond_with_data("boom", status=502)
    httpserver.expect_ordered_request("/x").respond_with_json([])
    sleeps: list[float] = []
    with _client(httpserver, sleeps, backoff_initial=4, backoff_max=10, max_retries=5) as client:
        assert client.get_json("/x") == []
    assert len(sleeps) == 4
    assert 4 <= sleeps[0] <= 5 and 8 <= sleeps[1] <= 9 and sleeps[2:] == [10, 10]


def test_gives_up_with_a_source_error_naming_method_url_status(httpserver):
    httpserver.expect_request("/always").respond_with_data("down", status=502)
    sleeps: list[float] = []
    with _client(httpserver, sleeps, max_retries=3) as client, pytest.raises(SourceError) as err:
        client.get_json("/always", params={"a": "1"})
    assert err.value.status == 502 and err.value.method == "GET"
    assert "/always?a=1" in str(err.value) and "HTTP 502" in str(err.value) and "3 retries" in str(err.value)
    assert len(sleeps) == 3


def test_client_error_is_not_retried(httpserver):
    httpserver.expect_request("/missing").respond_with_data("no", status=404)
    sleeps: list[float] = []
    with _client(httpserver, sleeps) as client, pytest.raises(SourceError, match="HTTP 404"):
        client.post_json("/missing", json={"x": 1})
    assert sleeps == []


def test_report_bytes_and_a_redirect_is_an_error_not_followed(httpserver):
    httpserver.expect_request("/report.csv").respond_with_data(b"a,b\n1,2\n", content_type="text/csv")
    httpserver.expect_request("/moved.csv").respond_with_response(
        Response("", status=302, headers={"Location": "https://elsewhere.example/report.csv"}))
    with _client(httpserver, []) as client:
        assert client.get_bytes("/report.csv") == b"a,b\n1,2\n"
        with pytest.raises(SourceError, match=r"moved\.csv was redirected \(HTTP 302\) to "
                                              r"https://elsewhere\.example/report\.csv; redirects are not followed"):
            client.get_bytes("/moved.csv")


def test_retry_after_forms_and_cap():
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=20), usegmt=True), now=now) == 20.0
    assert retry_after_seconds("100000") == 60.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_rate_limiter_spaces_requests():
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(s):
        sleeps.append(s)
        clock[0] += s

    limiter = RateLimiter(4, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert sleeps == [0.25, 0.25, 0.25, 0.25]
