"""Feeds: seeded from FEEDS_FILE, added by admins; identified by URL, named for readers."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database, utcnow


@dataclass(frozen=True)
class Feed:
    feed_id: int
    url: str
    name: str
    encoding: str | None


def _feed(row) -> Feed:
    return Feed(feed_id=row["feed_id"], url=row["url"], name=row["name"], encoding=row["encoding"])


class FeedRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self) -> list[Feed]:
        return [_feed(r) for r in await self._db.fetch_all("SELECT * FROM feeds ORDER BY feed_id")]

    async def find_by_name(self, name: str) -> Feed | None:
        row = await self._db.fetch_one(
            "SELECT * FROM feeds WHERE name = ? COLLATE NOCASE", (name.strip(),)
        )
        return _feed(row) if row else None

    async def upsert(self, url: str, name: str, encoding: str | None) -> Feed:
        """Upsert by URL; a name that another URL already holds gets a numeric suffix."""
        async with self._db.transaction() as conn:
            candidate, suffix = name, 1
            while True:
                async with conn.execute(
                    "SELECT url FROM feeds WHERE name = ? COLLATE NOCASE", (candidate,)
                ) as cursor:
                    owner = await cursor.fetchone()
                if owner is None or owner["url"] == url:
                    break
                suffix += 1
                candidate = f"{name}-{suffix}"
            async with conn.execute(
                "INSERT INTO feeds (url, name, encoding, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (url) DO UPDATE"
                " SET name = excluded.name, encoding = excluded.encoding"
                " RETURNING *",
                (url, candidate, encoding, utcnow()),
            ) as cursor:
                row = await cursor.fetchone()
        return _feed(row)
