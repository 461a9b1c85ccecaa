# ruff: noqa: ASYNC109 - the helpers take timeout= like asyncio.wait_for does.
"""Shared by the delivery end-to-end tests: readers seeded straight into the database, one feed
to publish through, and waits on the fake's recorded sends.

Seeding hundreds of readers with /start round trips would take longer than the fan-out
under test, so the schema is created with `Database.open` (the bot's own migrations) and
the rows are inserted before the bot starts.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from fake_telegram import ApiCall, FakeTelegram
from feedgen import feeds_toml, now, rss
from harness import read_db as query

from storage.channels import ChannelRepository
from storage.database import Database, utcnow

FEED = "/a.xml"
SOURCE_KEY = "a.xml"  # a source subscription's key: the feed's name, case-folded
DB_NAME = "newsbot.sqlite3"  # BotProcess.db_path


def story(n: int, title: str | None = None, summary: str = "Подробности позже.") -> tuple:
    """A feed item (guid, title, link, published, summary) new to the bot."""
    return (
        f"story-{n}",
        title or f"Новость номер {n} из редакции",
        f"https://news.example/story-{n}",
        now(),
        summary,
    )


async def seed(
    workdir: Path,
    readers: Iterable[int] = (),
    *,
    kind: str = "source",
    key: str = SOURCE_KEY,
    channels: Sequence[tuple[int, Sequence[str] | None]] = (),
    url: str | None = None,
) -> None:
    """Private readers subscribed to `key`, and channel targets with topic filters; in
    the SQLite file of `workdir`, or in the PostgreSQL database at `url`."""
    db = await Database.open(url or workdir / DB_NAME)
    try:
        stamp = utcnow()
        ids = list(readers)
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO chats (chat_id, kind, language, created_at, updated_at)"
                " VALUES (?, 'private', 'en', ?, ?)",
                [(chat_id, stamp, stamp) for chat_id in ids],
            )
            await conn.executemany(
                "INSERT INTO subscriptions (chat_id, kind, value, key, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(chat_id, kind, key, key, stamp) for chat_id in ids],
            )
        repository = ChannelRepository(db)
        for chat_id, topics in channels:
            await repository.upsert(chat_id, "channel", f"Channel {chat_id}", None, topics=topics)
    finally:
        await db.close()


async def start_primed(start_bot, feed_server, workdir: Path, env: dict[str, str]):
    """The bot on `workdir`, after its first poll of an empty feed (nothing is pushed
    from a feed's first poll, so only items published after this are)."""
    feed_server.serve(FEED, rss())
    bot = await start_bot(env=env, feeds=feeds_toml(feed_server, FEED), workdir=workdir)
    await feed_server.wait_for_hits(FEED, 2)
    return bot


def publish(feed_server, *items: tuple) -> None:
    feed_server.replace(FEED, rss(*items))


def sends(tg: FakeTelegram, *, after: int = 0) -> list[ApiCall]:
    return [call for call in tg.calls[after:] if call.method == "sendMessage"]


def delivered(tg: FakeTelegram, *, after: int = 0) -> Counter[int]:
    """Successful sendMessage calls per chat."""
    return Counter(call.params["chat_id"] for call in sends(tg, after=after) if call.ok)


async def wait_delivered(
    tg: FakeTelegram, chat_ids: Iterable[int], *, after: int = 0, timeout: float = 20.0
) -> ApiCall:
    """Wait until every chat got a successful sendMessage after mark `after`."""
    missing = set(chat_ids)

    def progress(call: ApiCall) -> bool:
        if call.ok:
            missing.discard(call.params.get("chat_id"))
        return not missing

    return await tg.wait_for("sendMessage", progress, after=after, timeout=timeout)


def most_in_window(times: Sequence[float], window: float) -> int:
    """The most events inside any half-open window (t - window, t] (the fake's rule)."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def wait_stored(
    db_path: Path, sql: str, expected: Callable[[list[tuple]], bool], *, timeout: float = 10.0
) -> list[tuple]:
    """Re-run a read-only query until `expected(rows)`: the bot stores a send's result
    just after Telegram answered it, so the answer alone does not prove the row's state."""
    deadline = time.monotonic() + timeout
    while True:
        rows = query(db_path, sql)
        if expected(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{sql!r} still gives {rows!r} after {timeout} s")
        await asyncio.sleep(0.05)
