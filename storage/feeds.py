"""Feeds: seeded from FEEDS_FILE, added by admins; identified by URL, named for readers.

Each row also carries the poller's state (validators, health, backoff), so a restart
resumes with conditional GETs and keeps a failing feed backed off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.database import Database, utcnow


@dataclass(frozen=True)
class Success:
    """One good poll to record (see `record_successes`)."""

    feed_id: int
    at: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    feed_title: str | None = None  # the feed's own <title>, when this poll parsed it


# The name readers see (SPEC 6.0): the configured title, else the feed's own, else `name`.
# Used in SQL wherever an article's source is shown.
SOURCE_TITLE = "coalesce(f.title, f.feed_title, f.name)"


@dataclass(frozen=True)
class Feed:
    feed_id: int
    url: str
    name: str
    encoding: str | None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_polled_at: str | None = None
    last_success_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    failures: int = 0
    next_poll_at: str | None = None
    primed: bool = False
    title: str | None = None  # FEEDS_FILE's `title`
    feed_title: str | None = None  # the feed's own <title> at its last good fetch

    @property
    def display_title(self) -> str:
        """What readers see as the source (SPEC 6.0)."""
        return self.title or self.feed_title or self.name


def _feed(row) -> Feed:
    return Feed(
        feed_id=row["feed_id"],
        url=row["url"],
        name=row["name"],
        encoding=row["encoding"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_hash=row["body_hash"],
        last_polled_at=row["last_polled_at"],
        last_success_at=row["last_success_at"],
        last_error=row["last_error"],
        last_error_at=row["last_error_at"],
        failures=row["failures"],
        next_poll_at=row["next_poll_at"],
        primed=bool(row["primed"]),
        title=row["title"],
        feed_title=row["feed_title"],
    )


class FeedRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self) -> list[Feed]:
        return [_feed(r) for r in await self._db.fetch_all("SELECT * FROM feeds ORDER BY feed_id")]

    async def get(self, feed_id: int) -> Feed | None:
        row = await self._db.fetch_one("SELECT * FROM feeds WHERE feed_id = ?", (feed_id,))
        return _feed(row) if row else None

    async def find_by_name(self, name: str) -> Feed | None:
        """Case-insensitive for every alphabet (SQLite's NOCASE folds only ASCII)."""
        wanted = name.strip().casefold()
        rows = await self._db.fetch_all("SELECT * FROM feeds ORDER BY feed_id")
        return next((_feed(r) for r in rows if r["name"].casefold() == wanted), None)

    async def due(self, now: str) -> list[Feed]:
        """Feeds whose backoff has run out (or that never failed)."""
        rows = await self._db.fetch_all(
            "SELECT * FROM feeds WHERE next_poll_at IS NULL OR next_poll_at <= ? ORDER BY feed_id",
            (now,),
        )
        return [_feed(r) for r in rows]

    async def upsert(
        self,
        url: str,
        name: str,
        encoding: str | None,
        *,
        title: str | None = None,
        feed_title: str | None = None,
    ) -> Feed:
        """Upsert by URL; a name that another URL already holds gets a numeric suffix.
        `title` is FEEDS_FILE's (None clears it); `feed_title`, when given, is the feed's
        own <title> from a fetch just made (None keeps the one stored)."""
        async with self._db.transaction() as conn:
            candidate, suffix = name, 1
            while True:
                owner = await conn.fetch_one(
                    "SELECT url FROM feeds WHERE lower(name) = lower(?)", (candidate,)
                )
                if owner is None or owner["url"] == url:
                    break
                suffix += 1
                candidate = f"{name}-{suffix}"
            row = await conn.fetch_one(
                "INSERT INTO feeds (url, name, encoding, title, feed_title, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (url) DO UPDATE"
                " SET name = excluded.name, encoding = excluded.encoding, title = excluded.title,"
                " feed_title = coalesce(excluded.feed_title, feeds.feed_title)"
                " RETURNING *",
                (url, candidate, encoding, _title(title), _title(feed_title), utcnow()),
            )
        return _feed(row)

    async def record_success(
        self,
        feed_id: int,
        *,
        now: str,
        etag: str | None,
        last_modified: str | None,
        body_hash: str | None,
    ) -> None:
        """A good poll (200 or 304): new validators, health reset, backoff cleared, primed."""
        await self.record_successes([Success(feed_id, now, etag, last_modified, body_hash)])

    async def record_successes(self, successes: Sequence[Success]) -> None:
        """Many good polls in one transaction (the poller's group commit: a cycle of 900
        unchanged feeds is a few transactions, not 900)."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "UPDATE feeds SET etag = ?, last_modified = ?, body_hash = ?,"
                " last_polled_at = ?, last_success_at = ?, failures = 0, next_poll_at = NULL,"
                " primed = 1, feed_title = coalesce(?, feed_title) WHERE feed_id = ?",
                [
                    (
                        s.etag,
                        s.last_modified,
                        s.body_hash,
                        s.at,
                        s.at,
                        _title(s.feed_title),
                        s.feed_id,
                    )
                    for s in successes
                ],
            )

    async def record_failure(self, feed_id: int, *, now: str, error: str, next_poll_at: str) -> int:
        """Count one more consecutive failure; returns the new count."""
        async with self._db.transaction() as conn:
            row = await conn.fetch_one(
                "UPDATE feeds SET last_polled_at = ?, last_error = ?, last_error_at = ?,"
                " failures = failures + 1, next_poll_at = ? WHERE feed_id = ? RETURNING failures",
                (now, error[:500], now, next_poll_at, feed_id),
            )
        return int(row[0]) if row else 0

    async def find_by_url(self, url: str) -> Feed | None:
        row = await self._db.fetch_one("SELECT * FROM feeds WHERE url = ?", (url.strip(),))
        return _feed(row) if row else None

    async def delete(self, feed_id: int) -> bool:
        """Forget a feed; its articles stay (their feed_id becomes NULL)."""
        async with self._db.transaction() as conn:
            deleted = await conn.execute("DELETE FROM feeds WHERE feed_id = ?", (feed_id,))
            return deleted == 1


MAX_TITLE_LENGTH = 200


def _title(value: str | None) -> str | None:
    """A title as stored: whitespace collapsed, bounded, None when empty (a feed whose
    <title> is blank keeps showing its name)."""
    if value is None:
        return None
    value = " ".join(value.split())[:MAX_TITLE_LENGTH]
    return value or None
