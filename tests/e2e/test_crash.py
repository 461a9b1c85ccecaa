"""A crash in the middle of a fan-out (SPEC 7.4): `kill -9`, restart on the same database,
and every reader gets the article exactly once, but for at most the one message that was
in flight at the crash.
"""

from __future__ import annotations

import pytest
from delivery_helpers import delivered, publish, seed, start_primed, story, wait_delivered
from fake_telegram import ApiCall
from pg_server import BACKENDS

READERS = list(range(700_001, 700_151))
KILL_AFTER = 40


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_kill_9_mid_fan_out_loses_nothing_and_duplicates_at_most_one(
    tg, start_bot, feed_server, tmp_path, database_url
):
    tg.enforce_limits()
    await seed(tmp_path / "bot", READERS, url=database_url)
    # 20/s: the 150 sends take 7.5 s, so the kill lands well inside the fan-out.
    env = {"POLL_INTERVAL_SECONDS": "1", "SEND_RATE_PER_SECOND": "20"}
    bot = await start_primed(start_bot, feed_server, tmp_path / "bot", env)
    mark = tg.mark()
    publish(feed_server, story(1))

    sent: set[int] = set()

    def enough(call: ApiCall) -> bool:
        if call.ok:
            sent.add(call.index)
        return len(sent) >= KILL_AFTER

    await tg.wait_for("sendMessage", enough, after=mark, timeout=20)
    await bot.kill()
    before_restart = delivered(tg, after=mark)
    assert len(before_restart) < len(READERS), "the fan-out finished before the kill"

    await bot.start()
    await wait_delivered(tg, READERS, after=mark, timeout=25)
    per_chat = delivered(tg, after=mark)
    assert set(per_chat) == set(READERS)
    duplicates = {chat: n for chat, n in per_chat.items() if n > 1}
    assert sum(n - 1 for n in duplicates.values()) <= 1, duplicates
    assert tg.count_429 == 0
