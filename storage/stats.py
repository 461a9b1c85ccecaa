"""Figures for editors' /stats (SPEC 8.5), each one query, read without the write lock."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database


@dataclass(frozen=True)
class Stats:
    readers_total: int
    readers_active: int  # active and not paused
    readers_paused: int  # active but paused
    readers_blocked: int  # inactive: blocked the bot, or never started it
    topics: list[tuple[str, int]]  # topic id, private subscribers; most first
    keywords: list[tuple[str, int]]  # keyword as typed, readers; most first
    feeds_ok: int
    feeds_failing: int
    articles_today: int
    outbox: dict[str, int]  # pending (waiting or in flight), sent, failed, dropped


class StatsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def collect(self, day_start: str, top: int = 10) -> Stats:
        """`day_start`: the UTC stamp of local midnight (TIMEZONE), for articles today."""
        readers = await self._db.fetch_one(
            "SELECT count(*) AS total,"
            " count(*) FILTER (WHERE active = 1 AND paused = 0) AS active,"
            " count(*) FILTER (WHERE active = 1 AND paused = 1) AS paused,"
            " count(*) FILTER (WHERE active = 0) AS blocked"
            " FROM chats WHERE kind = 'private'"
        )
        topics = await self._db.fetch_all(
            "SELECT s.key, count(*) AS n FROM subscriptions s JOIN chats c USING (chat_id)"
            " WHERE s.kind = 'topic' AND c.kind = 'private'"
            " GROUP BY s.key ORDER BY n DESC, s.key"
        )
        keywords = await self._db.fetch_all(
            "SELECT min(s.value) AS value, count(*) AS n FROM subscriptions s"
            " JOIN chats c USING (chat_id) WHERE s.kind = 'keyword' AND c.kind = 'private'"
            " GROUP BY s.key ORDER BY n DESC, s.key LIMIT ?",
            (top,),
        )
        feeds = await self._db.fetch_one(
            "SELECT count(*) FILTER (WHERE failures = 0) AS ok,"
            " count(*) FILTER (WHERE failures > 0) AS bad"
            " FROM feeds"
        )
        articles = await self._db.fetch_one(
            "SELECT count(*) FROM articles WHERE stored_at >= ?", (day_start,)
        )
        outbox = await self._db.fetch_all(
            "SELECT status, count(*) AS n FROM outbox GROUP BY status"
        )
        by_status = {row["status"]: row["n"] for row in outbox}
        assert readers is not None and feeds is not None and articles is not None
        return Stats(
            readers_total=readers["total"],
            readers_active=readers["active"],
            readers_paused=readers["paused"],
            readers_blocked=readers["blocked"],
            topics=[(row["key"], row["n"]) for row in topics],
            keywords=[(row["value"], row["n"]) for row in keywords],
            feeds_ok=feeds["ok"],
            feeds_failing=feeds["bad"],
            articles_today=articles[0],
            outbox={
                "pending": by_status.get("pending", 0) + by_status.get("sending", 0),
                "sent": by_status.get("sent", 0),
                "failed": by_status.get("failed", 0),
                "dropped": by_status.get("dropped", 0),
            },
        )
