"""ArticleRepository.store on each backend: identity, cross-feed dedup, fan-out."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest_asyncio

from storage.articles import ArticleRepository, Candidate
from storage.database import Database
from storage.feeds import FeedRepository

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def candidate(key="guid:1", title="Экспорт в Китай вырос", link="https://a.example/1"):
    return Candidate(
        item_key=key,
        link=link,
        canonical_link=link,
        title=title,
        title_key=title.casefold(),
        summary="",
        published=NOW,
        topics=frozenset({"china"}),
        keywords=frozenset(),
        fresh=True,
    )


@pytest_asyncio.fixture
async def db(db: Database) -> Database:
    """Two feeds and a reader, on each backend."""
    database = db
    feeds = FeedRepository(database)
    await feeds.upsert("https://a.example/rss", "a", None)
    await feeds.upsert("https://b.example/rss", "b", None)
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO chats (chat_id, created_at, updated_at) VALUES (1001, 'x', 'x')"
        )
        await conn.execute(
            "INSERT INTO subscriptions (chat_id, kind, value, key, created_at)"
            " VALUES (1001, 'topic', 'china', 'china', 'x')"
        )
    return database


async def store(repo, feed_id, item, push):
    return await repo.store(
        feed_id, "x", [item], push=push, now=NOW, dedup_since=NOW - timedelta(hours=48)
    )


async def test_seen_items_are_skipped_and_new_ones_fanned_out_once(db):
    repo = ArticleRepository(db)
    first = await store(repo, 1, candidate(), push=True)
    again = await store(repo, 1, candidate(), push=True)
    assert (first.new, first.queued) == (1, 1)
    assert (again.new, again.duplicates, again.queued) == (0, 0, 0)


async def test_story_from_a_new_feeds_backlog_is_pushed_when_a_known_feed_carries_it(db):
    """Regression (review): a story first stored unpushed (feed B's first poll) was a
    'duplicate' when the primed feed A carried it, so no reader ever got it."""
    repo = ArticleRepository(db)
    backlog = await store(repo, 2, candidate(key="guid:b1"), push=False)
    assert (backlog.new, backlog.queued) == (1, 0)
    later = await store(repo, 1, candidate(key="guid:a1", link="https://a.example/1?utm_x=1"), True)
    assert (later.duplicates, later.pushed, later.queued) == (1, 1, 1)
    once_more = await store(repo, 1, candidate(key="guid:a2"), push=True)
    assert once_more.queued == 0
    assert (await db.fetch_one("SELECT count(*) FROM outbox"))[0] == 1


async def test_a_readers_row_already_queued_is_not_queued_again(db):
    """The fan-out skips a (reader, article) row already there (NOT EXISTS, the portable
    and, on PostgreSQL, cheaper form of ON CONFLICT DO NOTHING) and queues the others."""
    repo = ArticleRepository(db)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO chats (chat_id, created_at, updated_at) VALUES (1002, 'x', 'x')"
        )
        await conn.execute(
            "INSERT INTO subscriptions (chat_id, kind, value, key, created_at)"
            " VALUES (1002, 'keyword', 'Китай', 'китай', 'x')"
        )
    backlog = await store(repo, 2, candidate(key="guid:b1"), push=False)
    assert backlog.queued == 0
    article_id = await db.fetch_value("SELECT article_id FROM articles")
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO outbox (chat_id, article_id, created_at) VALUES (1001, ?, 'x')",
            (article_id,),
        )
    item = replace(candidate(key="guid:a1"), keywords=frozenset({"китай"}))
    later = await store(repo, 1, item, push=True)
    assert (later.pushed, later.queued) == (1, 1)
    rows = await db.fetch_all("SELECT chat_id FROM outbox ORDER BY chat_id")
    assert [row["chat_id"] for row in rows] == [1001, 1002]
