"""OpenAI-style object ids that sort in creation order.

An id is a prefix (``asst_``, ``thread_``, ``msg_``, ``run_``, ``step_``, ``call_``) followed by
24 characters of Crockford base32: 10 for the time in milliseconds and 14 for a per-process
monotonic counter seeded at random. Ids made by one process sort strictly in the order they were
made, even within one millisecond; ids from several processes sort by millisecond, and a
process that adds to a thread first observes the thread's newest id (:func:`observe`), so the
thread keeps its order even when the processes' clocks disagree. Sorting by id
is therefore sorting by creation, which is what makes list cursors stable.
"""

from __future__ import annotations

import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_TIME_CHARS = 10
_RANDOM_CHARS = 14
_RANDOM_MAX = 32**_RANDOM_CHARS

PREFIXES = {
    "assistant": "asst_",
    "thread": "thread_",
    "message": "msg_",
    "run": "run_",
    "step": "step_",
    "call": "call_",
}


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


class _Monotonic:
    """Keeps (millisecond, counter) strictly increasing within the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def next(self) -> tuple[int, int]:
        with self._lock:
            now = time.time_ns() // 1_000_000
            if now > self._last_ms:
                self._last_ms = now
                # Leave room above the seed so a burst within one ms never overflows.
                self._counter = secrets.randbelow(_RANDOM_MAX // 2)
            else:
                self._counter += 1
                if self._counter >= _RANDOM_MAX:  # pragma: no cover - 2^69 ids in one ms
                    self._last_ms += 1
                    self._counter = 0
            return self._last_ms, self._counter

    def observe(self, ms: int, counter: int) -> None:
        """Make every later id of this process sort after ``(ms, counter)``."""
        with self._lock:
            if (ms, counter) > (self._last_ms, self._counter):
                self._last_ms, self._counter = ms, counter


_clock = _Monotonic()


def new_id(prefix: str) -> str:
    """Return a new id with ``prefix`` that sorts after every id this process made before.

    Args:
        prefix: The prefix, e.g. ``"asst_"``.
    """
    ms, counter = _clock.next()
    return prefix + _encode(ms, _TIME_CHARS) + _encode(counter, _RANDOM_CHARS)


def _decode(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 32 + _ALPHABET.index(ch)
    return value


def observe(object_id: str) -> None:
    """Make every id this process makes from now on sort after ``object_id``.

    Ids of one process sort in creation order; ids of several processes sort by their clocks,
    which may disagree. A process about to add to a thread observes the thread's newest id
    first, so what it adds sorts after what is there, whatever the other processes' clocks said.
    """
    body = object_id.partition("_")[2]
    if len(body) != _TIME_CHARS + _RANDOM_CHARS or not set(body) <= set(_ALPHABET):
        return  # not one of ours (a client-chosen id)
    _clock.observe(_decode(body[:_TIME_CHARS]), _decode(body[_TIME_CHARS:]))


def id_time_ms(object_id: str) -> int:
    """Return the creation time in milliseconds encoded in an id made by :func:`new_id`."""
    return _decode(object_id[object_id.index("_") + 1 :][:_TIME_CHARS])
