"""Fault suite (issue 6): the disk fills up while the poller writes.

In process, on the real pieces: `Database` (WAL, the bot's migrations), `Poller`, a real
`Fetcher` against the local feed server. "Disk full" is SQLite's own SQLITE_FULL, made
with `PRAGMA max_page_count` on the bot's connection: the database may not grow by one
page, exactly what a full file system does to it, and the error SQLite raises is the same
("database or disk is full"). Unlike filling a real file system (tmpfs needs mount
rights; RLIMIT_FSIZE would kill the test process with SIGXFSZ), it is deterministic and
needs nothing of the machine.

What must hold: each failed write is logged and rolled back whole (no article without
its outbox rows), the feed is not blamed (no failure count, no backoff: after an outage
of any length the next poll picks it up), and the first poll after space returns stores
and queues everything; `PRAGMA integrity_check` is "ok" throughout.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from delivery_helpers import seed
from feed_server import FeedServer
from feedgen import now, rss

from bot.feeds.fetch import Fetcher, create_session
from bot.feeds.poller import Poller, PollSettings
from bot.topics.matcher import Matcher
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import default_topics_path, load_taxonomy
from storage.articles import ArticleRepository
from storage.database import Database
from storage.feeds import FeedRepository
from storage.subscriptions import SubscriptionRepository

READER = 1001
INTERVAL = timedelta(minutes=5)
ITEMS = 60  # ~40 kB of new rows: far more than the free room in the database's pages
SQLITE_DEFAULT_MAX_PAGES = 1_073_741_823


@pytest.fixture(scope="module")
def matcher():
    return Matcher.from_taxonomy(load_taxonomy(default_topics_path()), Normalizer())


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, by: timedelta = INTERVAL) -> None:
        self.now += by


def items(count: int) -> list[tuple]:
    published = now()
    return [
        (
            f"story-{n}",
            f"Новость номер {n}: завод в Дзержинске нарастил выпуск продукции",
            f"https://news.example/story-{n}",
            published,
            "Подробности с места событий, цифры и комментарии участников рынка. " * 4,
        )
        for n in range(ITEMS)
    ]


async def scalar(db: Database, sql: str):
    row = await db.fetch_one(sql)
    return row[0]


async def counts(db: Database) -> tuple[int, int, int]:
    return (
        await scalar(db, "SELECT count(*) FROM articles"),
        await scalar(db, "SELECT count(*) FROM feed_items"),
        await scalar(db, "SELECT count(*) FROM outbox"),
    )


async def test_disk_full_while_storing_is_logged_rolled_back_and_retried(
    tmp_path, matcher, caplog
):
    caplog.set_level(logging.INFO, logger="bot.feeds.poller")
    await seed(tmp_path, [READER], key="a.xml")  # a reader of everything from a.xml
    db = await Database.open(tmp_path / "newsbot.sqlite3")
    woken: list[int] = []
    clock = Clock()
    async with FeedServer() as server, create_session() as http:
        try:
            server.serve("/a.xml", rss())
            feeds = FeedRepository(db)
            await feeds.upsert(server.url("/a.xml"), "a.xml", None)
            poller = Poller(
                feeds,
                ArticleRepository(db),
                SubscriptionRepository(db),
                Fetcher(http, timeout=5),
                matcher,
                PollSettings(interval=INTERVAL),
                on_queued=lambda: woken.append(1),
                clock=clock,
            )
            first = await poller.poll_due()  # primes the feed: nothing to push yet
            assert (first.failed, first.storage_error) == (0, None)

            server.replace("/a.xml", rss(*items(ITEMS)))
            pages = await scalar(db, "PRAGMA page_count")
            await db.connection.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full

            for attempt in range(1, 4):  # an outage over several polls
                clock.tick()
                report = await poller.poll_due()
                assert report.storage_error is not None, attempt
                assert "database or disk is full" in report.storage_error
                assert (report.new, report.queued, report.failed) == (0, 0, 0)
                # Nothing half-written: no article without its feed item or outbox row.
                assert await counts(db) == (0, 0, 0)
                assert server.hits("/a.xml") == 1 + attempt  # fetched again each poll
            assert await scalar(db, "PRAGMA integrity_check") == "ok"
            full = [r for r in caplog.records if "database or disk is full" in r.getMessage()]
            assert len(full) == 3 and all(r.levelno == logging.WARNING for r in full)
            assert "retried next poll" in full[0].getMessage()
            # The feed is not blamed for our disk: no failure, no error, no backoff.
            (feed,) = await feeds.list()
            assert (feed.failures, feed.last_error, feed.next_poll_at) == (0, None, None)
            assert not woken

            await db.connection.execute(f"PRAGMA max_page_count = {SQLITE_DEFAULT_MAX_PAGES}")
            clock.tick()
            report = await poller.poll_due()
            assert report.storage_error is None
            assert (report.new, report.queued, report.failed) == (ITEMS, ITEMS, 0)
            assert await counts(db) == (ITEMS, ITEMS, ITEMS)
            rows = await db.fetch_all("SELECT DISTINCT chat_id, status FROM outbox")
            assert [tuple(row) for row in rows] == [(READER, "pending")]
            assert woken
            (feed,) = await feeds.list()
            assert feed.failures == 0 and feed.last_success_at == clock.now.isoformat()
            assert await scalar(db, "PRAGMA integrity_check") == "ok"
        finally:
            await db.close()
