"""The window of requests in flight (bot/delivery/window.py): pure sizing and booking."""

from __future__ import annotations

import asyncio

import pytest

from bot.delivery.window import MAX_IN_FLIGHT, SendWindow


def settled(rate: float | None, round_trip: float, answers: int = 200) -> SendWindow:
    window = SendWindow(rate)
    for _ in range(answers):
        window.observe(round_trip)
    return window


def test_the_window_holds_the_rate_across_the_round_trip():
    # rate x round trip, rounded up, plus one for jitter
    assert settled(25, 0.150).size == 5  # 3.75 -> 4, + 1
    assert settled(25, 0.050).size == 3
    assert settled(25, 0.001).size == 2  # a local API: barely overlapping
    assert settled(10, 0.150).size == 3


def test_the_window_never_passes_eight():
    assert settled(30, 0.300).size == MAX_IN_FLIGHT
    assert settled(1000, 0.050).size == MAX_IN_FLIGHT  # a paid broadcast far away
    assert SendWindow(None).size == MAX_IN_FLIGHT  # no global rate: as many as allowed


def test_it_starts_at_the_slow_end_and_learns_a_closer_telegram():
    window = SendWindow(25)
    assert window.size == MAX_IN_FLIGHT  # 300 ms assumed until answers say otherwise
    for _ in range(30):
        window.observe(0.050)
    assert window.size <= 4


def test_jitter_widens_the_window():
    steady, jittery = SendWindow(25), SendWindow(25)
    for n in range(400):
        steady.observe(0.150)
        jittery.observe(0.100 if n % 2 else 0.200)  # the same mean, +-50 ms
    assert jittery.size > steady.size
    assert jittery.round_trip > steady.round_trip


def test_a_fixed_window_ignores_the_round_trip():
    window = SendWindow(25, fixed=1)
    window.observe(0.3)
    assert window.size == 1
    with pytest.raises(ValueError):
        SendWindow(25, fixed=0)


def test_one_request_per_chat_and_no_more_than_the_size():
    window = SendWindow(None, fixed=2)
    assert window.can_start(1)
    window.start(1)
    assert window.busy(1) and not window.can_start(1)  # never two at once to one chat
    with pytest.raises(RuntimeError):
        window.start(1)
    window.start(2)
    assert window.in_flight == 2 and not window.can_start(3)  # full
    freed: list[int] = []
    window.on_free(lambda: freed.append(1))
    window.finish(1)
    assert freed == [1] and window.can_start(3) and window.can_start(1)


async def test_acquire_waits_for_a_place_and_for_the_chat():
    window = SendWindow(None, fixed=1)
    await window.acquire(7)
    waiting = asyncio.create_task(window.acquire(8))
    await asyncio.sleep(0)
    assert not waiting.done()  # the window is full
    window.finish(7)
    await asyncio.wait_for(waiting, 1)
    assert window.busy(8) and window.in_flight == 1


def test_after_a_failure_one_probe_at_a_time_until_a_success():
    """A 5xx or network error (seen by the sender) narrows the window for everyone who
    shares it, the editors' edits too; the first success opens it again."""
    window = settled(25, 0.150)
    assert window.size == 5
    window.probe()
    assert window.size == 1
    window.start(1)
    assert not window.can_start(2)  # the probe is the only request in flight
    window.finish(1)
    window.observe(0.150)
    assert window.size == 5
