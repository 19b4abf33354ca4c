"""Retry policy for provider calls, as a pure function of (attempt, error)."""

from __future__ import annotations

from dataclasses import dataclass

from callisto.errors import ProviderError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff for retryable provider errors.

    Attributes:
        max_retries: Retries after the first attempt.
        base_delay: Delay before the first retry, in seconds.
        max_delay: Cap on any one delay, including one the provider asked for.
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay_for(self, attempt: int, error: BaseException) -> float | None:
        """Return seconds to wait before retry number ``attempt`` (from 1), or ``None`` to stop.

        A provider's ``retry_after`` (from a 429's ``Retry-After``) is honoured up to
        ``max_delay``; past that the run fails rather than hang.
        """
        if not isinstance(error, ProviderError) or not error.retryable:
            return None
        if attempt > self.max_retries:
            return None
        if error.retry_after is not None:
            if error.retry_after > self.max_delay:
                return None
            return max(0.0, error.retry_after)
        return float(min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))
