# ruff: noqa: ASYNC109 - helpers take timeout= like asyncio.wait_for does.
"""Fault suite (issue 6): another process holds the database's write lock for longer than
the bot's busy timeout (5 s), while a new article arrives and while a reader subscribes.

The lock is real: a second sqlite3 connection on the bot's DATABASE_PATH in `BEGIN
EXCLUSIVE` (what a backup tool, a migration or an operator's shell in a transaction
does). What must hold: the bot logs the lock and keeps running, the reader gets a clear
"try again" rather than silence, nothing is half-written, and once the lock is released
the article is stored on the next poll and delivered, the reader's retry succeeds, and
`PRAGMA integrity_check` says "ok".
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from feedgen import feeds_toml, now, rss
from harness import query

FAST = {"POLL_INTERVAL_SECONDS": "1"}
BUSY_TIMEOUT = 5.0  # storage.database: PRAGMA busy_timeout = 5000
TITLE = "Станкостроительный завод в Дзержинске нарастил выпуск"


async def wait_log(bot, text: str, *, timeout: float) -> None:
    """The bot's log is a file: re-read it until `text` appears."""
    deadline = time.monotonic() + timeout
    while text not in bot.log_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged within {timeout} s\n{bot.log_tail()}")
        await asyncio.sleep(0.1)


async def test_database_locked_past_the_busy_timeout_then_released(
    feed_server, tg, start_bot, reader
):
    feed_server.serve("/a.xml", rss())
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, "/a.xml"))
    ann = reader()
    await ann.ask("/subscribe source:a.xml")
    await feed_server.wait_for_hits("/a.xml", 2)  # the first poll primed the feed

    holder = sqlite3.connect(bot.db_path, isolation_level=None, timeout=10)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        feed_server.replace(
            "/a.xml", rss(("a-1", TITLE, "https://a.example/1", now(), "Подробности."))
        )
        hits = feed_server.hits("/a.xml")
        # Fetched under the lock. Not at once, maybe: a write the bot had begun as the lock
        # was taken waits out its busy timeout first, and so may the poll's reads, queued
        # behind it on the bot's one database connection.
        async with asyncio.timeout(6 * BUSY_TIMEOUT):
            await feed_server.wait_for_hits("/a.xml", hits + 1)

        # A reader writes while the lock is held: a clear answer, not silence.
        reply = await ann.ask("/subscribe china", timeout=6 * BUSY_TIMEOUT)
        assert "try again" in reply["text"].lower(), reply["text"]
        await wait_log(bot, "database is locked", timeout=4 * BUSY_TIMEOUT)
        await wait_log(bot, "feed a.xml: not stored, database error", timeout=4 * BUSY_TIMEOUT)
        assert time.monotonic() - locked_at > BUSY_TIMEOUT  # the lock outlived the timeout
        assert bot.running
        delivered = [c for c in tg.calls if TITLE in str(c.params.get("text", ""))]
        assert not delivered
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    # Released: the next poll stores the article and it is delivered, once.
    push = await ann.expect_message(contains=TITLE, timeout=6 * BUSY_TIMEOUT)
    assert "Source: Test feed" in push["text"]  # the feed's own <title> (SPEC 6.0)
    reply = await ann.ask("/subscribe china", timeout=6 * BUSY_TIMEOUT)
    assert "subscribed" in reply["text"].lower(), reply["text"]
    await ann.barrier(timeout=4 * BUSY_TIMEOUT)

    assert query(bot, "PRAGMA integrity_check") == [("ok",)]
    assert query(bot, "SELECT title FROM articles") == [(TITLE,)]
    assert query(bot, "SELECT count(*) FROM feed_items") == [(1,)]
    assert query(bot, "SELECT chat_id, status FROM outbox") == [(ann.chat_id, "sent")]
    assert query(
        bot,
        "SELECT s.kind, s.key FROM subscriptions s WHERE s.chat_id = ? ORDER BY s.kind",
        (ann.chat_id,),
    ) == [("source", "a.xml"), ("topic", "china")]
    # The feed was never blamed for the database: no failure, no backoff.
    assert query(bot, "SELECT failures, last_error FROM feeds") == [(0, None)]
    pushes = [
        call
        for call in tg.calls
        if call.method == "sendMessage" and call.ok and TITLE in call.params.get("text", "")
    ]
    assert len(pushes) == 1
    assert bot.running
