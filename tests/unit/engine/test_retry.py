"""Retry policy: a pure function of (attempt, error)."""

from __future__ import annotations

from callisto.engine.retry import RetryPolicy
from callisto.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)


def test_backoff_grows_and_stops() -> None:
    policy = RetryPolicy(max_retries=3, base_delay=0.5, max_delay=1.5)
    error = ProviderServerError("boom")
    assert [policy.delay_for(n, error) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, None]


def test_only_retryable_errors_are_retried() -> None:
    policy = RetryPolicy()
    assert policy.delay_for(1, ProviderTimeout("slow")) is not None
    assert policy.delay_for(1, ProviderAuthError("no")) is None
    assert policy.delay_for(1, ProviderBadRequest("bad")) is None
    assert policy.delay_for(1, ValueError("not ours")) is None


def test_retry_after_is_honoured_within_the_cap() -> None:
    policy = RetryPolicy(max_delay=5)
    assert policy.delay_for(1, ProviderRateLimited("wait", retry_after=2.5)) == 2.5
    assert policy.delay_for(1, ProviderRateLimited("wait long", retry_after=60)) is None
