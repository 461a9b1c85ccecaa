"""Articles, the feed items that map to them, and the fan-out into the outbox.

`store()` is one short transaction per polled feed: new articles, their topics and
their outbox rows are written together, so a crash can never leave an article stored
but not fanned out (SPEC 7.1), and a reader matched several ways gets one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.channels import queue_article
from storage.database import Connection, Database
from storage.feeds import SOURCE_TITLE
from storage.sql import Texts


@dataclass(frozen=True)
class Candidate:
    """A feed item ready to store: identified, cleaned and classified by the caller."""

    item_key: str
    link: str | None
    canonical_link: str | None
    title: str
    title_key: str
    summary: str
    published: datetime | None
    topics: frozenset[str]
    keywords: frozenset[str]  # keys of readers' keyword subscriptions it matches
    fresh: bool  # young enough to push (MAX_ITEM_AGE_HOURS)
    image: str | None = None  # the item's picture (absolute http(s) URL)


@dataclass(frozen=True)
class StoreResult:
    new: int = 0
    duplicates: int = 0  # the same story already stored from another feed
    pushed: int = 0  # new articles fanned out
    queued: int = 0  # outbox rows written


@dataclass(frozen=True)
class Article:
    article_id: int
    link: str | None
    title: str
    summary: str
    published_at: str | None
    stored_at: str
    topics: tuple[str, ...]
    source: str | None  # name of the feed that first carried it


def _article(row) -> Article:
    return Article(
        article_id=row["article_id"],
        link=row["link"],
        title=row["title"],
        summary=row["summary"],
        published_at=row["published_at"],
        stored_at=row["stored_at"],
        topics=tuple(row["topics"].split()),
        source=row["source"],
    )


# A recalled breaking item (SPEC 8.2a) stays stored for the counts but is never listed.
_SELECT = (
    f"SELECT a.*, {SOURCE_TITLE} AS source"
    " FROM articles a LEFT JOIN feeds f ON f.feed_id = a.feed_id"
    " WHERE a.recalled = 0"
)

# Every active, unpaused private reader whose topic, keyword or source subscription
# matches; DISTINCT plus the outbox's UNIQUE (chat, article) make it one row a reader.
# Instant readers get an outbox row; digest readers (SPEC 4.11) a `digest_items` row.
# A row already there is skipped by NOT EXISTS, not ON CONFLICT: PostgreSQL's speculative
# insertion costs every one of 100,000 rows more than an index probe does (and none are
# there for an article pushed the first time, which the row lock of `_mark_pushed` or the
# article's own insert makes this transaction's alone). Were another writer ever to queue
# the same row at the same moment, the unique key would fail this store, not double it.
_MATCHING = """
FROM subscriptions s JOIN chats c ON c.chat_id = s.chat_id
WHERE c.active = 1 AND c.paused = 0 AND c.kind = 'private' AND c.digest_time IS {mode} AND (
       (s.kind = 'topic' AND s.key IN (SELECT value FROM json_each(:topics)))
    OR (s.kind = 'keyword' AND s.key IN (SELECT value FROM json_each(:keywords)))
    OR (s.kind = 'source' AND s.key = :source))
"""
_FAN_OUT = (
    "INSERT INTO outbox (chat_id, article_id, created_at)"
    " SELECT DISTINCT s.chat_id, CAST(:article_id AS BIGINT), CAST(:now AS TEXT)"
    + _MATCHING.format(mode="NULL")
    + " AND NOT EXISTS (SELECT 1 FROM outbox o"
    " WHERE o.chat_id = s.chat_id AND o.article_id = CAST(:article_id AS BIGINT))"
)
_FAN_OUT_DIGEST = (
    "INSERT INTO digest_items (chat_id, article_id)"
    " SELECT DISTINCT s.chat_id, CAST(:article_id AS BIGINT)"
    + _MATCHING.format(mode="NOT NULL")
    + " ON CONFLICT DO NOTHING"
)


async def article_by_id(db: Database, article_id: int) -> Article | None:
    """A stored, not recalled article."""
    row = await db.fetch_one(f"{_SELECT} AND a.article_id = ?", (article_id,))
    return _article(row) if row else None


class ArticleRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def store(
        self,
        feed_id: int,
        source_key: str,
        candidates: Sequence[Candidate],
        *,
        push: bool,
        now: datetime,
        dedup_since: datetime,
    ) -> StoreResult:
        """Store the items not seen before; fan out the new, fresh ones when `push`."""
        new = duplicates = pushed = queued = 0
        stamp = now.isoformat(timespec="seconds")
        async with self._db.transaction() as conn:
            for item in candidates:
                if await _seen(conn, feed_id, item.item_key):
                    continue
                existing = await _same_story(conn, item, dedup_since.isoformat(timespec="seconds"))
                if existing is not None:
                    duplicates += 1
                    await _map_item(conn, feed_id, item.item_key, existing)
                    # First stored unpushed (a new feed's backlog), now fresh in a known
                    # feed: readers have not had it yet.
                    if push and item.fresh and await _mark_pushed(conn, existing):
                        pushed += 1
                        queued += await _fan_out(conn, existing, item, source_key, stamp)
                        queued += await queue_article(conn, existing, sorted(item.topics), stamp)
                    continue
                will_push = push and item.fresh
                article_id = await _insert(conn, feed_id, item, stamp, will_push)
                await _map_item(conn, feed_id, item.item_key, article_id)
                new += 1
                if will_push:
                    pushed += 1
                    queued += await _fan_out(conn, article_id, item, source_key, stamp)
                    queued += await queue_article(conn, article_id, sorted(item.topics), stamp)
        return StoreResult(new=new, duplicates=duplicates, pushed=pushed, queued=queued)

    async def unseen_keys(self, feed_id: int, keys: Sequence[str]) -> set[str]:
        """Which of a feed's item keys it has not stored yet (one query: the poller
        classifies only these). `store` checks again in its transaction."""
        if not keys:
            return set()
        rows = await self._db.fetch_all(
            "SELECT value FROM json_each(?) WHERE NOT EXISTS (SELECT 1 FROM feed_items fi"
            " WHERE fi.feed_id = ? AND fi.item_key = value)",
            (Texts(keys), feed_id),
        )
        return {row[0] for row in rows}

    async def latest(self, limit: int = 10) -> list[Article]:
        rows = await self._db.fetch_all(f"{_SELECT} ORDER BY a.article_id DESC LIMIT ?", (limit,))
        return [_article(r) for r in rows]

    async def latest_by_topics(self, topic_ids: Sequence[str], limit: int = 10) -> list[Article]:
        rows = await self._db.fetch_all(
            f"{_SELECT} AND a.article_id IN (SELECT article_id FROM article_topics"
            " WHERE topic_id IN (SELECT value FROM json_each(?)))"
            " ORDER BY a.article_id DESC LIMIT ?",
            (Texts(topic_ids), limit),
        )
        return [_article(r) for r in rows]

    async def latest_by_sources(self, names: Sequence[str], limit: int = 10) -> list[Article]:
        rows = await self._db.fetch_all(
            f"{_SELECT} AND a.article_id IN (SELECT fi.article_id FROM feed_items fi"
            " JOIN feeds s ON s.feed_id = fi.feed_id"
            " WHERE s.name IN (SELECT value FROM json_each(?)))"
            " ORDER BY a.article_id DESC LIMIT ?",
            (Texts(names), limit),
        )
        return [_article(r) for r in rows]

    async def count_by_feed(self) -> dict[int, int]:
        rows = await self._db.fetch_all(
            "SELECT feed_id, count(*) AS n FROM feed_items GROUP BY feed_id"
        )
        return {row["feed_id"]: row["n"] for row in rows}


async def _seen(conn: Connection, feed_id: int, item_key: str) -> bool:
    row = await conn.fetch_one(
        "SELECT 1 FROM feed_items WHERE feed_id = ? AND item_key = ?", (feed_id, item_key)
    )
    return row is not None


async def _same_story(conn: Connection, item: Candidate, since: str) -> int | None:
    """An article with the same canonical link, or the same title within the window."""
    if item.canonical_link:
        found = await conn.fetch_value(
            "SELECT article_id FROM articles WHERE canonical_link = ? LIMIT 1",
            (item.canonical_link,),
        )
        if found is not None:
            return int(found)
    if item.title_key:
        found = await conn.fetch_value(
            "SELECT article_id FROM articles WHERE title_key = ? AND stored_at >= ? LIMIT 1",
            (item.title_key, since),
        )
        if found is not None:
            return int(found)
    return None


async def _mark_pushed(conn: Connection, article_id: int) -> bool:
    """True for the one caller that flips an unpushed article to pushed."""
    changed = await conn.execute(
        "UPDATE articles SET pushed = 1 WHERE article_id = ? AND pushed = 0", (article_id,)
    )
    return changed == 1


async def _map_item(conn: Connection, feed_id: int, item_key: str, article_id: int) -> None:
    await conn.execute(
        "INSERT INTO feed_items (feed_id, item_key, article_id) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (feed_id, item_key, article_id),
    )


async def _insert(
    conn: Connection, feed_id: int, item: Candidate, stamp: str, pushed: bool
) -> int:
    published = item.published.isoformat(timespec="seconds") if item.published else None
    topics = sorted(item.topics)
    article_id = await conn.fetch_value(
        "INSERT INTO articles (feed_id, link, canonical_link, title, title_key, summary,"
        " published_at, stored_at, topics, pushed, image)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING article_id",
        (
            feed_id,
            item.link,
            item.canonical_link,
            item.title,
            item.title_key,
            item.summary,
            published,
            stamp,
            " ".join(topics),
            int(pushed),
            item.image,
        ),
    )
    await conn.executemany(
        "INSERT INTO article_topics (topic_id, article_id) VALUES (?, ?)",
        [(topic, article_id) for topic in topics],
    )
    return article_id


async def _fan_out(
    conn: Connection, article_id: int, item: Candidate, source_key: str, stamp: str
) -> int:
    """Outbox rows for instant readers (their count), digest items for digest readers."""
    params = {
        "article_id": article_id,
        "topics": Texts(sorted(item.topics)),
        "keywords": Texts(sorted(item.keywords)),
        "source": source_key,
    }
    count = await conn.execute(_FAN_OUT, {**params, "now": stamp})
    await conn.execute(_FAN_OUT_DIGEST, params)
    return count
