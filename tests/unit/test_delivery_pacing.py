from __future__ import annotations

import itertools

import pytest

from bot.delivery.pacing import Pacer

READER, OTHER_READER, CHANNEL = 1001, 1002, -1001234


def simulate(pacer: Pacer, targets: list[tuple[int, bool]], seconds: float, step: float = 0.01):
    """Send to every target whenever the pacer allows, for `seconds`; the send log."""
    log: list[tuple[float, int]] = []
    ticks = round(seconds / step)
    for tick in range(ticks):
        now = tick * step
        for chat_id, private in targets:
            if pacer.reserve(chat_id, private, now) == 0:
                log.append((now, chat_id))
    return log


def most_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_one_message_a_second_to_a_private_chat():
    pacer = Pacer(None, margin=0.05)
    assert pacer.reserve(READER, True, 10.0) == 0
    assert pacer.reserve(READER, True, 10.0) == pytest.approx(1.05)
    assert pacer.reserve(READER, True, 10.5) == pytest.approx(0.55)
    assert pacer.reserve(OTHER_READER, True, 10.5) == 0  # another chat is not held up
    assert pacer.reserve(READER, True, 11.05) == 0


def test_private_chat_over_a_minute_never_exceeds_one_a_second():
    log = simulate(Pacer(None), [(READER, True)], 60)
    times = [t for t, _ in log]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1.0
    assert 55 <= len(times) <= 60


def test_twenty_a_minute_to_a_group_or_channel_in_any_sliding_window():
    log = simulate(Pacer(None), [(CHANNEL, False)], 180)
    times = [t for t, _ in log]
    assert most_in_window(times, 60.0) == 20  # a burst is fine, a 21st inside the window not
    assert len(times) >= 58
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1.0


def test_twenty_first_group_message_waits_for_the_first_to_leave_the_window():
    pacer = Pacer(None, chat_interval=None, margin=0.0)
    for i in range(20):
        assert pacer.reserve(CHANNEL, False, float(i)) == 0
    assert pacer.reserve(CHANNEL, False, 20.0) == pytest.approx(40.0)  # first was at 0
    assert pacer.chat_delay(CHANNEL, False, 59.9) == pytest.approx(0.1)
    assert pacer.reserve(CHANNEL, False, 60.0) == 0


def test_private_chats_have_no_minute_cap():
    pacer = Pacer(None, chat_interval=None, margin=0.0)
    for _ in range(25):  # a private chat without the 1/s rule has no minute cap
        assert pacer.reserve(READER, True, 0.0) == 0


def test_global_rate_caps_sends_across_chats():
    pacer = Pacer(25)
    readers = [(2000 + i, True) for i in range(200)]
    log = simulate(pacer, readers, 10)
    times = [t for t, _ in log]
    assert 240 <= len(times) <= 250  # 25 per 1.035 s (the global margin) for 10 s
    assert most_in_window(times, 1.0) <= 25


def test_global_rate_burst_never_exceeds_the_rate_in_any_second():
    """Regression: the global bucket's burst (rate * 0.1) came on top of the rate, so a
    busy second carried 55 sends at SEND_RATE_PER_SECOND=50 and Telegram answered 429."""
    for rate in (50, 30, 25.5, 3):
        readers = [(2000 + i, True) for i in range(400)]
        times = [t for t, _ in simulate(Pacer(rate), readers, 5, step=0.001)]
        assert most_in_window(times, 1.0) <= int(rate), rate
        assert len(times) >= int(rate) * 5 * 0.9, rate


def test_global_rate_under_one_a_second_spaces_every_send():
    times = [t for t, _ in simulate(Pacer(0.5), [(2000 + i, True) for i in range(5)], 10)]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 2.0


def test_retry_after_pauses_every_chat():
    pacer = Pacer(25)
    pacer.pause_until(105.0)
    assert pacer.delay(READER, True, 100.0) == pytest.approx(5.0)
    assert pacer.reserve(CHANNEL, False, 104.0) == pytest.approx(1.0)
    pacer.pause_until(101.0)  # an earlier end never shortens the pause
    assert pacer.paused_until == 105.0
    assert pacer.reserve(READER, True, 105.0) == 0
    assert pacer.chat_delay(OTHER_READER, True, 100.0) == 0  # chat limits alone ignore it


def test_idle_chats_are_forgotten():
    pacer = Pacer(None)
    for chat in range(1000):
        pacer.take(chat + 1, True, 0.0)
        pacer.take(-(chat + 1), False, 0.0)
    assert pacer.tracked_chats == 2000
    pacer.take(READER, True, 500.0)
    assert pacer.tracked_chats == 1


def test_limits_can_be_switched_off():
    pacer = Pacer(None, chat_interval=None, group_limit=None)
    assert all(pacer.reserve(CHANNEL, False, 0.0) == 0 for _ in range(100))
    assert pacer.tracked_chats == 0
    with pytest.raises(ValueError):
        Pacer(0)
