"""When a failed step runs again: a retry policy is a pure function of (attempt, error code)."""

from __future__ import annotations

from dataclasses import dataclass, field

from callisto.tools.results import ErrorCode

MODEL_ERROR = "MODEL_ERROR"
"""The code of a step whose arguments the model could not give (API error, no usable call)."""

DEFAULT_RETRY_ON = frozenset(
    {ErrorCode.TIMEOUT.value, ErrorCode.EXECUTION_ERROR.value, ErrorCode.RATE_LIMITED.value}
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and after how long, a failing step is tried again.

    A failure whose code is not in ``retry_on`` is final at once: a ``VALIDATION_ERROR`` of
    bound arguments or a ``FORBIDDEN`` from a policy would fail the same way again. (Arguments a
    model chose that break the schema go back to the model first, on their own budget.)

    Args:
        max_attempts: Tries in all, the first included; 1 means no retry.
        initial_delay: Seconds before the second try.
        multiplier: Each later delay is the previous one times this.
        max_delay: The longest delay.
        retry_on: Error codes worth another try (:class:`ErrorCode` values, or
            ``"MODEL_ERROR"``).

    Example::

        RetryPolicy(max_attempts=3, initial_delay=0.5)   # waits 0.5 s, then 1 s
    """

    max_attempts: int = 1
    initial_delay: float = 0.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    retry_on: frozenset[str] = field(default=DEFAULT_RETRY_ON)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and the multiplier >= 1")
        object.__setattr__(self, "retry_on", frozenset(str(code) for code in self.retry_on))

    def delay_before(self, attempt: int, code: str) -> float | None:
        """Seconds to wait before try number ``attempt`` (2 for the first retry), or ``None``.

        Args:
            attempt: The try about to start (the one that failed was ``attempt - 1``).
            code: Why the previous try failed.

        Returns:
            The delay, or ``None`` when there is no try ``attempt`` (budget spent, or an error
            not worth retrying).
        """
        if attempt > self.max_attempts or str(code) not in self.retry_on:
            return None
        return min(self.initial_delay * self.multiplier ** max(attempt - 2, 0), self.max_delay)


NO_RETRY = RetryPolicy()
