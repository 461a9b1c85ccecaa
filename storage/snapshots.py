"""Daily snapshots of the bot's life (SPEC 8.5): what editors' /stats draws over time.

One row per local day of TIMEZONE, taken once the day is over. Totals (readers,
subscriptions, failing feeds) are read as they stand when the snapshot is taken; flows
(new readers, messages sent and failed, articles stored) are counted between the day's
two local midnights, given as UTC stamps by the caller, so a day of 23 or 25 hours (a
DST change) counts exactly its own hours. The figures are one JSON document per day: the
topics and feeds they name change over time, and the table stays one small row a day.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from storage.database import Database, Reads, utcnow

KEEP_DAYS = 400


@dataclass(frozen=True)
class Snapshot:
    day: date  # the local day described
    readers_total: int = 0  # private chats that ever started the bot
    readers_active: int = 0  # active and not paused
    readers_paused: int = 0
    readers_blocked: int = 0  # inactive: blocked the bot or vanished
    readers_new: int = 0  # started the bot that day
    topics: dict[str, int] = field(default_factory=dict)  # topic id -> private subscribers
    keyword_subscriptions: int = 0
    source_subscriptions: int = 0
    sent: int = 0  # messages Telegram accepted that day
    failed: dict[str, int] = field(default_factory=dict)  # reason -> messages that day
    # reasons: the sender's (bad_request, gave_up, migrate_loop, other), and blocked
    articles: dict[str, int] = field(default_factory=dict)  # feed name -> stored that day
    failing_feeds: tuple[str, ...] = ()  # feeds whose last poll failed

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    def to_json(self) -> str:
        data = {
            "readers": {
                "total": self.readers_total,
                "active": self.readers_active,
                "paused": self.readers_paused,
                "blocked": self.readers_blocked,
                "new": self.readers_new,
            },
            "subscriptions": {
                "topics": self.topics,
                "keywords": self.keyword_subscriptions,
                "sources": self.source_subscriptions,
            },
            "messages": {"sent": self.sent, "failed": self.failed},
            "articles": self.articles,
            "failing_feeds": list(self.failing_feeds),
        }
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, day: date, text: str) -> Snapshot:
        """Missing parts read as zero: a snapshot written by an older bot stays readable."""
        data = json.loads(text)
        readers = data.get("readers", {})
        subscriptions = data.get("subscriptions", {})
        messages = data.get("messages", {})
        return cls(
            day=day,
            readers_total=int(readers.get("total", 0)),
            readers_active=int(readers.get("active", 0)),
            readers_paused=int(readers.get("paused", 0)),
            readers_blocked=int(readers.get("blocked", 0)),
            readers_new=int(readers.get("new", 0)),
            topics={str(k): int(v) for k, v in subscriptions.get("topics", {}).items()},
            keyword_subscriptions=int(subscriptions.get("keywords", 0)),
            source_subscriptions=int(subscriptions.get("sources", 0)),
            sent=int(messages.get("sent", 0)),
            failed={str(k): int(v) for k, v in messages.get("failed", {}).items()},
            articles={str(k): int(v) for k, v in data.get("articles", {}).items()},
            failing_feeds=tuple(str(name) for name in data.get("failing_feeds", [])),
        )


class SnapshotRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def take(self, day: date, start: str, end: str) -> bool:
        """Store the snapshot of `day` (flows counted in [start, end), UTC stamps) unless
        it exists; True when it was stored now. Idempotent: a restart, a second copy of
        the bot or the daily job and the start-up check at once store one row. The
        figures are read before the write transaction, so the sender and the handlers
        never wait for the day's counting."""
        if await self.has(day):
            return False
        snapshot = await _measure(self._db, day, start, end)
        async with self._db.transaction() as conn:
            stored = await conn.execute(
                "INSERT INTO stats_snapshots (day, taken_at, data) VALUES (?, ?, ?)"
                " ON CONFLICT (day) DO NOTHING",
                (day.isoformat(), utcnow(), snapshot.to_json()),
            )
        return stored == 1

    async def has(self, day: date) -> bool:
        row = await self._db.fetch_one(
            "SELECT 1 FROM stats_snapshots WHERE day = ?", (day.isoformat(),)
        )
        return row is not None

    async def since(self, first: date) -> list[Snapshot]:
        """Snapshots from `first` on, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT day, data FROM stats_snapshots WHERE day >= ? ORDER BY day",
            (first.isoformat(),),
        )
        return [Snapshot.from_json(date.fromisoformat(r["day"]), r["data"]) for r in rows]

    async def all(self) -> list[Snapshot]:
        return await self.since(date.min)

    async def prune(self, before: date) -> int:
        """Forget snapshots of days before `before`; how many went."""
        async with self._db.transaction() as conn:
            return await conn.execute(
                "DELETE FROM stats_snapshots WHERE day < ?", (before.isoformat(),)
            )

    async def store(self, snapshots: Sequence[Snapshot], taken_at: str | None = None) -> None:
        """Write given snapshots as they are (tests, benchmarks, the README's example)."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO stats_snapshots (day, taken_at, data) VALUES (?, ?, ?)"
                " ON CONFLICT (day) DO UPDATE SET taken_at = excluded.taken_at,"
                " data = excluded.data",
                [(s.day.isoformat(), taken_at or utcnow(), s.to_json()) for s in snapshots],
            )


async def _measure(conn: Reads, day: date, start: str, end: str) -> Snapshot:
    readers = await conn.fetch_one(
        "SELECT count(*) AS total,"
        " count(*) FILTER (WHERE active = 1 AND paused = 0) AS active,"
        " count(*) FILTER (WHERE active = 1 AND paused = 1) AS paused,"
        " count(*) FILTER (WHERE active = 0) AS blocked,"
        " count(*) FILTER (WHERE created_at >= ? AND created_at < ?) AS new"
        " FROM chats WHERE kind = 'private'",
        (start, end),
    )
    subscriptions = await conn.fetch_all(
        "SELECT s.kind, CASE WHEN s.kind = 'topic' THEN s.key ELSE '' END AS key,"
        " count(*) AS n FROM subscriptions s JOIN chats c USING (chat_id)"
        " WHERE c.kind = 'private' GROUP BY 1, 2"
    )
    sent = await conn.fetch_value(
        "SELECT count(*) FROM outbox WHERE status = 'sent' AND sent_at >= ? AND sent_at < ?",
        (start, end),
    )
    # Dropped rows have a `failed_at` only when their chat blocked the bot or vanished (a
    # reader who paused, a recalled item or a removed channel is no failure).
    failed = await conn.fetch_all(
        "SELECT coalesce(fail_reason, 'other') AS reason, count(*) AS n FROM outbox"
        " WHERE failed_at >= ? AND failed_at < ? AND status IN ('failed', 'dropped')"
        " GROUP BY 1",
        (start, end),
    )
    # Articles of feeds; editors' breaking items have none and are not counted.
    articles = await conn.fetch_all(
        "SELECT f.name, count(*) AS n FROM articles a JOIN feeds f ON f.feed_id = a.feed_id"
        " WHERE a.stored_at >= ? AND a.stored_at < ? GROUP BY f.name",
        (start, end),
    )
    failing = await conn.fetch_all("SELECT name FROM feeds WHERE failures > 0 ORDER BY name")
    assert readers is not None
    kinds = {(r["kind"], r["key"]): int(r["n"]) for r in subscriptions}
    return Snapshot(
        day=day,
        readers_total=int(readers["total"]),
        readers_active=int(readers["active"]),
        readers_paused=int(readers["paused"]),
        readers_blocked=int(readers["blocked"]),
        readers_new=int(readers["new"]),
        topics={key: n for (kind, key), n in sorted(kinds.items()) if kind == "topic"},
        keyword_subscriptions=kinds.get(("keyword", ""), 0),
        source_subscriptions=kinds.get(("source", ""), 0),
        sent=int(sent or 0),
        failed={r["reason"]: int(r["n"]) for r in failed},
        articles={r["name"]: int(r["n"]) for r in articles},
        failing_feeds=tuple(r["name"] for r in failing),
    )
