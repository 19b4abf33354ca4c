"""Rate limits per tool and per caller, as token buckets with an injectable clock."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from callisto.tools.policy import Denial, ToolRequest
from callisto.tools.results import ErrorCode

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Rate:
    """``calls`` per ``per`` seconds, with bursts of up to ``calls``.

    Attributes:
        calls: Bucket capacity, and the tokens refilled over ``per`` seconds.
        per: The refill period in seconds.
    """

    calls: int
    per: float = 1.0

    def __post_init__(self) -> None:
        if self.calls < 1 or self.per <= 0:
            raise ValueError(f"a rate needs calls >= 1 and per > 0, got {self}")


class TokenBucket:
    """A token bucket: holds up to ``rate.calls`` tokens, refilled continuously.

    Not thread-safe on its own; :class:`RateLimit` guards its buckets with a lock.

    Args:
        rate: Capacity and refill rate.
        clock: Returns seconds, monotonically; injectable for tests.
    """

    def __init__(self, rate: Rate, clock: Clock = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = float(rate.calls)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        earned = (now - self._updated) * self._rate.calls / self._rate.per
        self._tokens = min(float(self._rate.calls), self._tokens + earned)
        self._updated = now

    def available(self) -> bool:
        """Whether a token can be taken now."""
        self._refill()
        return self._tokens >= 1.0

    def take(self) -> bool:
        """Take one token if there is one; return whether it was taken."""
        if not self.available():
            return False
        self._tokens -= 1.0
        return True

    def retry_after(self) -> float:
        """Seconds until a token will be available (0 when one is)."""
        self._refill()
        missing = max(0.0, 1.0 - self._tokens)
        return missing * self._rate.per / self._rate.calls


class RateLimit:
    """A gate that limits calls per tool (all callers together) and per caller.

    A call needs a token from both its tool's bucket and its caller's bucket; it takes from
    neither unless both have one. Refused calls end with ``RATE_LIMITED``.

    Args:
        per_tool: Tool name -> rate shared by all callers.
        default_tool_rate: The rate of tools not in ``per_tool``; ``None`` for no limit.
        per_caller: Each caller's own rate over all tools; ``None`` for no limit. Calls with no
            caller share one bucket.
        clock: Returns seconds, monotonically; injectable for tests.
    """

    def __init__(
        self,
        *,
        per_tool: Mapping[str, Rate] | None = None,
        default_tool_rate: Rate | None = None,
        per_caller: Rate | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._per_tool = dict(per_tool or {})
        self._default_tool_rate = default_tool_rate
        self._per_caller = per_caller
        self._clock = clock
        self._buckets: dict[tuple[str, str | None], TokenBucket] = {}
        # Sync tools run in threads and the executor may be shared: buckets change under a lock.
        self._lock = threading.Lock()

    def _bucket(self, kind: str, key: str | None, rate: Rate | None) -> TokenBucket | None:
        if rate is None:
            return None
        bucket = self._buckets.get((kind, key))
        if bucket is None:
            bucket = self._buckets[(kind, key)] = TokenBucket(rate, self._clock)
        return bucket

    def check(self, request: ToolRequest) -> Denial | None:
        """Take a token for the call, or refuse it with ``RATE_LIMITED``."""
        name = request.tool.name
        with self._lock:
            buckets = [
                b
                for b in (
                    self._bucket("tool", name, self._per_tool.get(name, self._default_tool_rate)),
                    self._bucket("caller", request.caller, self._per_caller),
                )
                if b is not None
            ]
            empty = [b for b in buckets if not b.available()]
            if not empty:
                for bucket in buckets:
                    bucket.take()
                return None
            wait = max(b.retry_after() for b in empty)
        return Denial(
            ErrorCode.RATE_LIMITED,
            f"Too many calls to {name!r}; try again in {math.ceil(wait * 10) / 10:g} s "
            "or continue without it.",
        )
