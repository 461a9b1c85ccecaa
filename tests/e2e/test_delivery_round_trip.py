# ruff: noqa: ASYNC109 - the helpers take timeout= like asyncio.wait_for does.
"""Delivery at Telegram's real round trip (SPEC 7.2-7.4, issue 11).

The fake Bot API answers each request 150 ms (+-50 ms) after it arrived, as Telegram does
from a server, and judges its limits on arrival. A sender that waits for each answer
before the next request manages one message per round trip (6.5/s at 150 ms); these
tests prove the bot overlaps requests to hold SEND_RATE_PER_SECOND, within 8 in flight and
one per chat, and that every rule of SPEC 7 still holds with overlap: the per-chat and
global limits, a 429 that stops every new request, SIGTERM that lets the requests in
flight finish. Times are the fake's arrival times (`ApiCall.at`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from itertools import pairwise

from delivery_helpers import (
    delivered,
    most_in_window,
    publish,
    seed,
    sends,
    start_primed,
    story,
    wait_delivered,
    wait_stored,
)
from fake_telegram import ApiCall, FakeTelegram
from harness import read_db

RATE = 25  # the bot's default SEND_RATE_PER_SECOND
# Telegram's broadcast limit, counted on arrival. The bot's ceiling is proven exact on a
# pure clock (tests/unit/test_delivery_pacing.py); here, arrivals are held to the limit
# that matters, since a loaded machine's scheduling once put 28 of the bot's 25/s
# into one second as the fake counted them.
TELEGRAM_LIMIT = 30
ENV = {"POLL_INTERVAL_SECONDS": "1", "SEND_RATE_PER_SECOND": str(RATE)}
LATENCY, JITTER = 0.150, 0.050
# A sender that waits for each answer manages 1 / 0.15 s = 6.7/s; the floor is three times
# that. It is not 90% of RATE: a loaded CI machine's stalls once cost 10% (22.5/s), and
# the exact figure is the bench's job (bench/bench_delivery.py), not a test's.
RATE_FLOOR = 0.8 * RATE
MAX_IN_FLIGHT = 8  # SPEC 7.2
REACTION = 0.25  # s: from an answer leaving the fake to the bot acting on it, under load


def readers(first: int, count: int) -> list[int]:
    return list(range(first, first + count))


def achieved_rate(calls: list[ApiCall]) -> float:
    times = sorted(call.at for call in calls)
    return (len(times) - 1) / (times[-1] - times[0])


async def wait_ok_sends(tg: FakeTelegram, count: int, *, after: int, timeout: float = 20.0) -> None:
    seen: set[int] = set()

    def enough(call: ApiCall) -> bool:
        if call.ok:
            seen.add(call.index)
        return len(seen) >= count

    await tg.wait_for("sendMessage", enough, after=after, timeout=timeout)


async def test_fan_out_holds_the_rate_at_a_150_ms_round_trip(tg, start_bot, feed_server, tmp_path):
    chats = readers(710_001, 100)
    tg.enforce_limits(per_chat_per_second=1, global_per_second=TELEGRAM_LIMIT)
    await seed(tmp_path / "bot", chats)
    await start_primed(start_bot, feed_server, tmp_path / "bot", ENV)
    tg.set_latency(LATENCY, JITTER, seed=11)
    tg.reset_in_flight_peaks()
    mark = tg.mark()
    publish(feed_server, story(1), story(2), story(3))
    await wait_stored(
        tmp_path / "bot" / "newsbot.sqlite3",
        "SELECT count(*) FROM outbox WHERE status = 'sent'",
        lambda rows: rows == [(300,)],
        timeout=40,
    )

    calls = sends(tg, after=mark)
    assert tg.count_429 == 0, [c.brief() for c in calls if c.status == 429][:5]
    assert delivered(tg, after=mark) == {chat: 3 for chat in chats}
    rate = achieved_rate(calls)
    print(f"fan-out of 300 messages at a {LATENCY * 1000:.0f} ms round trip: {rate:.1f}/s")
    assert rate >= RATE_FLOOR, f"{rate:.1f} messages/s at SEND_RATE {RATE}"
    assert most_in_window([c.at for c in calls], 1.0) <= TELEGRAM_LIMIT
    # Overlap, within SPEC 7.2's bounds: a few in flight, never 8+, never two to one chat.
    assert 2 <= tg.max_in_flight <= MAX_IN_FLIGHT, tg.max_in_flight
    assert tg.max_in_flight_per_chat == 1
    per_chat: defaultdict[int, list[float]] = defaultdict(list)
    for call in calls:
        per_chat[call.params["chat_id"]].append(call.at)
    closest = min(b - a for times in per_chat.values() for a, b in pairwise(times))
    assert closest >= 1.0, f"a reader got two messages {closest:.3f} s apart"
    # Bot API 10 no longer lists the deprecated twin of link_preview_options.
    assert not [c for c in tg.calls if "disable_web_page_preview" in c.params]
    assert all("link_preview_options" in c.params for c in calls)


async def test_a_429_stops_every_new_request_while_those_in_flight_finish(
    tg, start_bot, feed_server, tmp_path
):
    chats = readers(720_001, 100)
    await seed(tmp_path / "bot", chats)
    bot = await start_primed(start_bot, feed_server, tmp_path / "bot", ENV)
    tg.set_latency(LATENCY, JITTER, seed=12)
    mark = tg.mark()
    publish(feed_server, story(1))
    await wait_ok_sends(tg, 30, after=mark)
    tg.fail_next("sendMessage", retry_after=2)
    await wait_delivered(tg, chats, after=mark, timeout=30)

    calls = sends(tg, after=mark)
    (limited,) = [c for c in calls if c.status == 429]
    assert limited.answered is not None
    # Requests that left before the 429 came back were in flight: they finish. After it
    # reached the bot (REACTION covers a loaded machine), nothing leaves for retry_after.
    in_pause = [
        c for c in calls if limited.answered + REACTION <= c.at < limited.answered + 2.0 - 0.01
    ]
    assert not in_pause, [c.brief() for c in in_pause]
    resumed = [c for c in calls if c.at >= limited.answered + REACTION]
    assert resumed and resumed[0].at >= limited.answered + 2.0 - 0.01
    counts = delivered(tg, after=mark)
    assert counts == {chat: 1 for chat in chats}  # the refused one retried, none twice
    await wait_stored(
        bot.db_path,
        "SELECT status, count(*) FROM outbox GROUP BY status",
        lambda rows: rows == [("sent", len(chats))],
    )


async def test_sigterm_lets_the_requests_in_flight_finish_and_exits_0(
    tg, start_bot, feed_server, tmp_path
):
    chats = readers(730_001, 100)
    await seed(tmp_path / "bot", chats)
    bot = await start_primed(start_bot, feed_server, tmp_path / "bot", ENV)
    tg.set_latency(0.300, JITTER, seed=13)
    mark = tg.mark()
    publish(feed_server, story(1))
    await wait_ok_sends(tg, 20, after=mark)
    in_flight_at_stop = tg.in_flight
    started = time.monotonic()
    assert await bot.stop(timeout=10) == 0
    took = time.monotonic() - started
    assert took < 10, took
    assert in_flight_at_stop >= 1  # the stop really landed mid-flight

    # Every request that reached Telegram has its result stored: none was cut off and
    # left for a resend.
    reached = {c.params["chat_id"] for c in sends(tg, after=mark) if c.ok}
    stored = {
        chat for (chat,) in read_db(bot.db_path, "SELECT chat_id FROM outbox WHERE status = 'sent'")
    }
    assert stored == reached

    second = tg.mark()
    await bot.start()
    await wait_delivered(tg, set(chats) - reached, after=second, timeout=30)
    assert delivered(tg, after=mark) == {chat: 1 for chat in chats}


async def test_correct_and_recall_run_at_the_allowed_rate_across_the_round_trip(
    tg, start_bot, reader, tmp_path
):
    """/correct and /recall reach each copy through the sender's pace and window: with a
    150 ms round trip they overlap requests too, instead of one per answer."""
    admin_id = 900
    chats = readers(740_001, 60)
    await seed(tmp_path / "bot", chats, kind="topic", key="china")
    bot = await start_bot(env={**ENV, "ADMIN_IDS": str(admin_id)}, workdir=tmp_path / "bot")
    admin = reader(admin_id)
    await admin.ask("/start")
    tg.set_latency(LATENCY, JITTER, seed=14)
    preview = await admin.ask("/post #china Склад закрыт на переучёт")
    await admin.press(preview, "📣 Send")
    await admin.expect_message(contains="Report on breaking №1", timeout=30)

    for command, method, report in (
        ("/correct 1 Склад открыт после переучёта", "editMessageText", "60 cop(ies) edited"),
        ("/recall 1", "deleteMessage", "60 cop(ies) deleted"),
    ):
        tg.reset_in_flight_peaks()
        mark = tg.mark()
        reply = await admin.ask(command, timeout=30, contains=report)
        calls = [c for c in tg.calls[mark:] if c.method == method and c.ok]
        assert sorted(c.params["chat_id"] for c in calls) == chats, reply["text"]
        rate = achieved_rate(calls)
        print(f"{command.split()[0]}: 60 copies at {rate:.1f}/s")
        assert rate >= RATE_FLOOR, f"{method}: {rate:.1f}/s at SEND_RATE {RATE}"
        assert most_in_window([c.at for c in calls], 1.0) <= TELEGRAM_LIMIT
        assert 2 <= tg.max_in_flight <= MAX_IN_FLIGHT and tg.max_in_flight_per_chat == 1
    copies = "SELECT count(*) FROM outbox WHERE status = 'sent' AND article_id IS NOT NULL"
    assert read_db(bot.db_path, copies) == [(60,)]
