"""Figures for `/metrics` and `/healthz` (SPEC 8b), read at scrape time without the
write lock: a scrape never waits for the poller's or the sender's transactions."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database
from storage.outbox import STATUSES


@dataclass(frozen=True)
class OpsFigures:
    feeds_ok: int
    feeds_failing: int  # failed at their last poll, backing off (SPEC 6.3)
    articles_stored: int
    outbox: dict[str, int]  # rows per status, every status present


class OpsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ping(self) -> None:
        """`SELECT 1`: raises when the database cannot answer."""
        await self._db.fetch_one("SELECT 1")

    async def figures(self) -> OpsFigures:
        feeds = await self._db.fetch_one(
            "SELECT count(*) FILTER (WHERE failures = 0) AS ok,"
            " count(*) FILTER (WHERE failures > 0) AS bad"
            " FROM feeds"
        )
        articles = await self._db.fetch_one("SELECT count(*) FROM articles")
        rows = await self._db.fetch_all("SELECT status, count(*) AS n FROM outbox GROUP BY status")
        found = {row["status"]: row["n"] for row in rows}
        assert feeds is not None and articles is not None
        return OpsFigures(
            feeds_ok=int(feeds["ok"]),
            feeds_failing=int(feeds["bad"]),
            articles_stored=int(articles[0]),
            outbox={status: int(found.get(status, 0)) for status in STATUSES},
        )
