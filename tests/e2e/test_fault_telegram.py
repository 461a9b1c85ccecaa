# ruff: noqa: ASYNC109 - the helpers take timeout= like asyncio.wait_for does.
"""Bot API faults in the middle of a fan-out (issue 6's fault suite, SPEC 7.3 and 7.4).

One article goes to 120 seeded readers at 60 messages a second. The fake's rate limits
are off here (test_delivery.py covers them), so every 429 is one the test injected. Each
test breaks the Bot API once the fan-out is under way and proves four things: the fan-out
completes, every reader gets the article, duplicates stay within SPEC 7.4's messages in
flight, and a reader who sends /start meanwhile (or right after, when Telegram itself is
down) is answered. Sends overlap (SPEC 7.2), so "after a fault" means after its answer
reached the bot: requests already in flight then finish, as on Telegram.

* 429 bursts (retry_after 1, then 2, then 3): every pause is kept by every send that left
  after the 429 came back (no send inside a pause), no reader gets the article twice (a
  429 delivers nothing), and /start is answered *during* the 3 s pause: replies are not
  held by the sender's pause.
* sendMessage answers 502 for 30 s straight (a window in time, not a number of calls):
  the sender backs off and probes with one request at a time (a handful of attempts,
  not a tight loop and not a full window after every pause), no row is given up
  (every outbox row ends `sent`), delivery resumes within seconds of the end of the
  outage, and /start is answered as soon as Telegram answers again.
* Connection resets (the fake closes the TCP connection without an HTTP answer): each is a
  network error, retried after a backoff; nothing is lost or duplicated, and /start is
  answered during the backoff (the client drops the dead connection and opens another).
* One sendMessage hangs for 60 s: the other readers' messages go on beside it (it holds
  one place of the window, not the sender), the sender gives up on it after its request
  timeout (10 s, not 60) and retries that reader, and the fan-out completes long before
  the hang ends; /start is answered while the request still hangs. The hung request may
  still be delivered when the fake releases it: that is a message in flight that SPEC
  7.4 allows twice, and no other reader gets anything twice.
"""

from __future__ import annotations

import time
from collections import Counter

from delivery_helpers import publish, seed, sends, start_primed, story, wait_delivered, wait_stored
from fake_telegram import ApiCall, FakeTelegram

READERS = list(range(610_001, 610_121))
READER_SET = frozenset(READERS)
RATE = 60
ENV = {"POLL_INTERVAL_SECONDS": "1", "SEND_RATE_PER_SECOND": str(RATE)}
REQUEST_TIMEOUT = 10.0  # the sender's per-request timeout (bot/delivery/sender.py)


async def start_fan_out(tg, start_bot, feed_server, tmp_path, *, head_start: int = 10):
    """The bot with 120 readers; returns (bot, mark) once `head_start` readers got the
    article, so the fault lands in the middle of the fan-out."""
    await seed(tmp_path / "bot", READERS)
    bot = await start_primed(start_bot, feed_server, tmp_path / "bot", ENV)
    mark = tg.mark()
    publish(feed_server, story(1))
    await wait_sent(tg, head_start, after=mark)
    return bot, mark


async def wait_sent(tg: FakeTelegram, count: int, *, after: int, timeout: float = 20.0) -> ApiCall:
    """Wait for the `count`-th successful fan-out send after mark `after`."""
    seen: set[int] = set()

    def enough(call: ApiCall) -> bool:
        if call.ok and call.params.get("chat_id") in READER_SET:
            seen.add(call.index)
        return len(seen) >= count

    return await tg.wait_for("sendMessage", enough, after=after, timeout=timeout)


async def wait_failures(
    tg: FakeTelegram, status: int, count: int, *, after: int, timeout: float = 20.0
) -> list[ApiCall]:
    """The first `count` sendMessage answers with `status` after mark `after`."""
    seen: list[ApiCall] = []

    def enough(call: ApiCall) -> bool:
        if call.status == status and call not in seen:
            seen.append(call)
        return len(seen) >= count

    await tg.wait_for("sendMessage", enough, after=after, timeout=timeout)
    return seen[:count]


def fan_out(tg: FakeTelegram, mark: int) -> list[ApiCall]:
    return [c for c in sends(tg, after=mark) if c.params.get("chat_id") in READER_SET]


def per_reader(tg: FakeTelegram, mark: int) -> Counter[int]:
    return Counter(c.params["chat_id"] for c in fan_out(tg, mark) if c.ok)


async def assert_each_reader_once(tg: FakeTelegram, bot, mark: int) -> None:
    """Every reader got the article exactly once, and every outbox row is stored `sent`."""
    await wait_delivered(tg, READERS, after=mark, timeout=30)
    counts = per_reader(tg, mark)
    assert set(counts) == READER_SET
    twice = {chat: n for chat, n in counts.items() if n > 1}
    assert not twice, f"delivered more than once: {twice}"
    sql = "SELECT status, count(*) FROM outbox GROUP BY status"
    await wait_stored(bot.db_path, sql, lambda rows: rows == [("sent", len(READERS))])


async def test_429_bursts_with_growing_retry_after(tg, start_bot, feed_server, reader, tmp_path):
    bot, mark = await start_fan_out(tg, start_bot, feed_server, tmp_path)
    ann = reader()
    injected: list[tuple[ApiCall, int]] = []
    # Three bursts, 10 sends apart: two 429s asking for 1 s, two for 2 s, one for 3 s.
    for progress, (retry_after, times) in zip((10, 20, 30), ((1, 2), (2, 2), (3, 1)), strict=True):
        await wait_sent(tg, progress, after=mark)
        burst = tg.mark()
        tg.fail_next("sendMessage", retry_after=retry_after, times=times)
        limited = await wait_failures(tg, 429, times, after=burst)
        injected += [(call, retry_after) for call in limited]

    # The last 429 paused all sending for 3 s: a reader's /start is answered inside it.
    last, pause = injected[-1]
    reply = await ann.ask("/start", timeout=pause)
    answered = tg.find_call("sendMessage", lambda c: c.params is reply)
    assert answered is not None and answered.at < last.at + pause, "no reply during the pause"

    await assert_each_reader_once(tg, bot, mark)
    assert tg.count_429 == len(injected) == 5
    for limited, retry_after in injected:
        assert limited.answered is not None
        # Left after the 429 reached the bot (250 ms covers a request already on its way
        # and a loaded machine; the pauses are 1 s and more).
        later = [c for c in fan_out(tg, mark) if c.at > limited.answered + 0.25]
        assert later[0].at - limited.answered >= retry_after - 0.05, (
            f"a send {later[0].at - limited.answered:.2f} s after a 429 asking for "
            f"{retry_after} s"
        )


async def test_server_errors_for_30_seconds(tg, start_bot, feed_server, reader, tmp_path):
    outage = 30.0
    bot, mark = await start_fan_out(tg, start_bot, feed_server, tmp_path)
    ann = reader()
    window = tg.mark()
    tg.fail_for("sendMessage", outage, status=502)
    ends = time.monotonic() + outage

    # The first successful send after the window opened can only come after it closed.
    back = await tg.wait_for("sendMessage", lambda c: c.ok, after=window, timeout=outage + 15)
    assert back.at >= ends
    failed = [c for c in sends(tg, after=window) if c.status == 502]
    # The sender backs off from 2 s (every send paused): about one attempt per 2-4 s.
    assert 5 <= len(failed) <= 20, f"{len(failed)} attempts during a {outage:.0f} s outage"
    assert back.at - ends < 10, f"delivery resumed {back.at - ends:.1f} s after the outage"
    await ann.ask("/start", timeout=5)  # answered as soon as Telegram answers again

    await assert_each_reader_once(tg, bot, mark)
    assert tg.count_429 == 0


async def test_connection_resets(tg, start_bot, feed_server, reader, tmp_path):
    bot, mark = await start_fan_out(tg, start_bot, feed_server, tmp_path)
    ann = reader()
    burst = tg.mark()
    tg.reset_next("sendMessage", times=3)
    resets = await wait_failures(tg, 0, 3, after=burst)
    # The sender is backing off now; the reply opens a fresh connection.
    await ann.ask("/start", timeout=5)

    await assert_each_reader_once(tg, bot, mark)
    assert len(resets) == 3 and all(c.params["chat_id"] in READER_SET for c in resets)
    assert len([c for c in sends(tg, after=mark) if c.status == 0]) == 3
    assert tg.count_429 == 0


async def wait_hung(tg: FakeTelegram, timeout: float = 10.0) -> tuple[dict, float]:
    """The params and start time of the first request `hang_next` holds."""
    # The fake wakes its waiters when a hang starts (as when a call is recorded).
    hung = await tg._wait_until(lambda: tg.hung[0] if tg.hung else None, timeout)
    assert hung is not None, f"no request hung within {timeout} s"
    _, params, since = hung
    return params, since


async def test_one_send_hangs_for_60_seconds(tg, start_bot, feed_server, reader, tmp_path):
    hang = 60.0
    bot, mark = await start_fan_out(tg, start_bot, feed_server, tmp_path)
    ann = reader()
    tg.hang_next("sendMessage", hang)
    params, since = await wait_hung(tg)
    stuck = params["chat_id"]
    assert stuck in READER_SET

    reply = await ann.ask("/start", timeout=5)
    answered = tg.find_call("sendMessage", lambda c: c.params is reply)
    assert answered is not None and answered.at < since + REQUEST_TIMEOUT, "not answered meanwhile"

    await wait_delivered(tg, READERS, after=mark, timeout=REQUEST_TIMEOUT + 20)
    finished = time.monotonic()
    assert finished < since + hang, "the fan-out waited for the hung request"
    # The hung request is not recorded until the fake answers it (at `since + hang`), so
    # every recorded delivery is distinct: at most that one request can make a duplicate.
    assert not [c for c in tg.calls[mark:] if c.params is params]
    await assert_each_reader_once(tg, bot, mark)
    others = [c for c in fan_out(tg, mark) if c.at > since and c.params["chat_id"] != stuck]
    assert others and others[0].at - since < 1.0, "the others waited for the hung request"
    (retried,) = [c for c in fan_out(tg, mark) if c.params["chat_id"] == stuck and c.ok]
    resumed = retried.at - since
    assert REQUEST_TIMEOUT - 0.5 <= resumed <= REQUEST_TIMEOUT + 6, f"resumed after {resumed:.1f} s"
    assert tg.count_429 == 0
