# ruff: noqa: ASYNC109 - the helpers take timeout= like asyncio.wait_for does.
"""`kill -9` at random moments, twelve times in a row, while articles keep coming (issue 6's
fault suite, SPEC 7.4).

60 readers follow one feed. Each round publishes one more article and kills the bot at a
moment picked by a seeded `random.Random` (so every run plans the same kills):

* "poll": the moment the bot's request for the feed with the new article arrives (the
  bot is fetching it);
* "outbox": 0-100 ms after that request, while the bot parses the feed, stores the
  article and writes its outbox rows in one transaction (or has just started sending);
* "send": after the k-th successful sendMessage of the round (k from 1 to 60), in the
  middle of a fan-out.

Restarts use the same database; between rounds nothing waits for the backlog to drain,
so later kills also land on sends left over from earlier articles. The fake answers
150 ms (+-50 ms) after each request, as Telegram does from a server, so the bot keeps
several requests in flight when it dies. At the end the bot runs until every reader has
every article, then stops cleanly. What it proves: no article is lost for any reader
(even one killed between storing and fetching again, or between the fetch and the
outbox commit), every outbox row ends `sent` (none given up), and the duplicates are
bounded by what was in flight at the kills (SPEC 7.4: at most 8 a crash).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter

from delivery_helpers import FEED, publish, seed, start_primed, story, wait_stored
from fake_telegram import ApiCall, FakeTelegram

READERS = list(range(820_001, 820_061))
READER_SET = frozenset(READERS)
RATE = 50
ENV = {"POLL_INTERVAL_SECONDS": "1", "SEND_RATE_PER_SECOND": str(RATE)}
SEED = 20_260_606
MOMENTS = ("poll", "outbox", "send")
KILLS = 12  # four of each moment, in a seeded order
MAX_IN_FLIGHT = 8  # SPEC 7.2, 7.4
STORY_RE = re.compile(r"https://news\.example/story-(\d+)")


def deliveries(
    tg: FakeTelegram, *, after: int = 0, upto: int | None = None
) -> Counter[tuple[int, int]]:
    """Successful sends per (reader, story number) among calls[after:upto]."""
    pairs: Counter[tuple[int, int]] = Counter()
    for call in tg.calls[after:upto]:
        if call.method == "sendMessage" and call.ok and call.params.get("chat_id") in READER_SET:
            found = STORY_RE.search(str(call.params.get("text", "")))
            if found:
                pairs[(call.params["chat_id"], int(found.group(1)))] += 1
    return pairs


async def wait_sends(tg: FakeTelegram, count: int, *, after: int, timeout: float = 20.0) -> None:
    """Wait for `count` successful sends to readers after mark `after`."""
    seen: set[int] = set()

    def enough(call: ApiCall) -> bool:
        if call.ok and call.params.get("chat_id") in READER_SET:
            seen.add(call.index)
        return len(seen) >= count

    await tg.wait_for("sendMessage", enough, after=after, timeout=timeout)


async def test_kill_9_at_random_moments_loses_nothing(tg, start_bot, feed_server, tmp_path):
    rng = random.Random(SEED)
    plan = [moment for moment in MOMENTS for _ in range(KILLS // len(MOMENTS))]
    rng.shuffle(plan)
    tg.enforce_limits(global_per_second=RATE)
    await seed(tmp_path / "bot", READERS)
    bot = await start_primed(start_bot, feed_server, tmp_path / "bot", ENV)
    tg.set_latency(0.150, 0.050, seed=SEED)
    tg.reset_in_flight_peaks()

    items: list[tuple] = []
    kills = 0
    caught_in_flight = 0  # requests at Telegram, answer not yet back, summed over kills
    log: list[str] = []
    for number, moment in enumerate(plan, start=1):
        if not bot.running:
            await bot.start()
        mark = tg.mark()
        hits = feed_server.hits(FEED)
        items.append(story(number))
        publish(feed_server, *items)
        if moment == "send":
            wanted = rng.randint(1, len(READERS))
            await wait_sends(tg, wanted, after=mark)
            detail = f"after {wanted} send(s)"
        else:
            # The first request after publish() is served the new article.
            async with asyncio.timeout(10):
                await feed_server.wait_for_hits(FEED, hits + 1)
            delay = 0.0 if moment == "poll" else rng.uniform(0.0, 0.1)
            if delay:
                await asyncio.sleep(delay)  # a random moment, not a wait for something
            detail = f"{delay * 1000:.0f} ms after the fetch"
        in_flight = tg.in_flight  # reached Telegram, answer not back: may go twice
        caught_in_flight += in_flight
        await bot.kill()
        kills += 1
        log.append(f"kill {kills}: {moment}, story {number}, {detail}, {in_flight} in flight")

    await bot.start()
    expected = {(chat, n) for chat in READERS for n in range(1, len(items) + 1)}
    missing = set(expected)

    def all_delivered(call: ApiCall) -> bool:
        missing.difference_update(deliveries(tg, after=call.index, upto=call.index + 1))
        return not missing

    await tg.wait_for("sendMessage", all_delivered, timeout=40)
    assert await bot.stop() == 0
    pairs = deliveries(tg)
    assert set(pairs) == expected, "\n".join(log)
    duplicates = sum(n - 1 for n in pairs.values())
    print(
        f"{kills} kills, {duplicates} duplicate(s), {caught_in_flight} request(s) in flight at "
        f"the kills, at most {tg.max_in_flight} in flight at any time"
    )
    assert tg.max_in_flight <= MAX_IN_FLIGHT
    assert duplicates <= kills * MAX_IN_FLIGHT, (duplicates, "\n".join(log))
    sql = "SELECT status, count(*) FROM outbox GROUP BY status"
    await wait_stored(bot.db_path, sql, lambda rows: rows == [("sent", len(expected))])
