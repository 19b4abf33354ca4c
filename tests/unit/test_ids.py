"""Object ids: prefixes, strict creation order, the time they carry."""

from __future__ import annotations

import itertools
import re
import threading
import time

import pytest

from callisto.ids import PREFIXES, id_time_ms, new_id

ID_BODY = re.compile(r"^[0-9a-hjkmnp-tv-z]{24}$")  # Crockford base32, lower case


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [
        ("assistant", "asst_"),
        ("thread", "thread_"),
        ("message", "msg_"),
        ("run", "run_"),
        ("step", "step_"),
        ("call", "call_"),
    ],
)
def test_prefixes(kind: str, prefix: str) -> None:
    assert PREFIXES[kind] == prefix
    made = new_id(PREFIXES[kind])
    assert made.startswith(prefix)
    assert ID_BODY.match(made.removeprefix(prefix)), made


def test_ids_made_in_a_tight_loop_are_strictly_increasing() -> None:
    made = [new_id("msg_") for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(a < b for a, b in itertools.pairwise(made))


def test_ids_from_several_threads_are_unique_and_ordered_per_thread() -> None:
    results: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out.extend(new_id("run_") for _ in range(2_000))

    workers = [threading.Thread(target=make, args=(out,)) for out in results]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    every = [i for out in results for i in out]
    assert len(set(every)) == len(every)
    for out in results:
        assert out == sorted(out)


def test_time_round_trip() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id("asst_")
    after = time.time_ns() // 1_000_000
    assert before <= id_time_ms(made) <= after


def test_different_prefixes_carry_the_same_clock() -> None:
    first = new_id("thread_")
    second = new_id("asst_")
    assert id_time_ms(first) <= id_time_ms(second)
    assert first.removeprefix("thread_") < second.removeprefix("asst_")


def test_later_ids_sort_after_earlier_ones_across_milliseconds() -> None:
    first = new_id("msg_")
    time.sleep(0.002)
    second = new_id("msg_")
    assert id_time_ms(second) > id_time_ms(first)
    assert first < second


def test_ids_sort_after_an_observed_id_from_a_clock_ahead() -> None:
    from callisto.ids import _ALPHABET, _encode, observe

    # An id made by a process whose clock runs 50 ms ahead of ours.
    ahead_ms = id_time_ms(new_id("msg_")) + 50
    theirs = "msg_" + _encode(ahead_ms, 10) + _encode(5, 14)
    assert new_id("msg_") < theirs
    observe(theirs)
    ours = [new_id("msg_") for _ in range(3)]
    assert theirs < ours[0] < ours[1] < ours[2]
    observe("asst_client-chosen-id")  # not one of ours: ignored
    assert set(ours[0][4:]) <= set(_ALPHABET)
