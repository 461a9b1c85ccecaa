"""Readers' subscriptions: topics, keywords and sources, with the per-reader limit."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from storage.database import Database, utcnow


class AddOutcome(enum.Enum):
    ADDED = "added"
    DUPLICATE = "duplicate"
    LIMIT = "limit"


@dataclass(frozen=True)
class Subscription:
    subscription_id: int
    chat_id: int
    kind: str  # "topic" | "keyword" | "source"
    value: str  # as the reader wrote or chose it
    key: str  # normalised: topic id, keyword key, feed name in lower case


def _subscription(row) -> Subscription:
    return Subscription(
        subscription_id=row["subscription_id"],
        chat_id=row["chat_id"],
        kind=row["kind"],
        value=row["value"],
        key=row["key"],
    )


class SubscriptionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, chat_id: int) -> list[Subscription]:
        rows = await self._db.fetch_all(
            "SELECT * FROM subscriptions WHERE chat_id = ? ORDER BY kind, subscription_id",
            (chat_id,),
        )
        return [_subscription(row) for row in rows]

    async def count(self, chat_id: int) -> int:
        row = await self._db.fetch_one(
            "SELECT count(*) FROM subscriptions WHERE chat_id = ?", (chat_id,)
        )
        return int(row[0]) if row else 0

    async def topic_ids(self, chat_id: int) -> set[str]:
        rows = await self._db.fetch_all(
            "SELECT key FROM subscriptions WHERE chat_id = ? AND kind = 'topic'", (chat_id,)
        )
        return {row["key"] for row in rows}

    async def add(self, chat_id: int, kind: str, value: str, key: str, limit: int) -> AddOutcome:
        """Insert unless it exists or the reader is at `limit`; checked in one transaction."""
        async with self._db.transaction() as conn:
            total, existing = await conn.fetch_one(
                "SELECT count(*), count(*) FILTER (WHERE kind = ? AND key = ?)"
                " FROM subscriptions WHERE chat_id = ?",
                (kind, key, chat_id),
            )
            if existing:
                return AddOutcome.DUPLICATE
            if total >= limit:
                return AddOutcome.LIMIT
            await conn.execute(
                "INSERT INTO subscriptions (chat_id, kind, value, key, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (chat_id, kind, value, key, utcnow()),
            )
            return AddOutcome.ADDED

    async def remove(self, chat_id: int, kind: str, key: str) -> Subscription | None:
        async with self._db.transaction() as conn:
            row = await conn.fetch_one(
                "DELETE FROM subscriptions WHERE chat_id = ? AND kind = ? AND key = ? RETURNING *",
                (chat_id, kind, key),
            )
        return _subscription(row) if row else None

    async def remove_by_id(self, chat_id: int, subscription_id: int) -> Subscription | None:
        """Remove one of this chat's rows; a forged id of another chat's row removes nothing."""
        async with self._db.transaction() as conn:
            row = await conn.fetch_one(
                "DELETE FROM subscriptions WHERE chat_id = ? AND subscription_id = ? RETURNING *",
                (chat_id, subscription_id),
            )
        return _subscription(row) if row else None

    async def keyword_phrases(self) -> dict[str, str]:
        """Every distinct keyword key with one phrase a reader wrote for it."""
        rows = await self._db.fetch_all(
            "SELECT key, min(value) AS value FROM subscriptions WHERE kind = 'keyword'"
            " GROUP BY key"
        )
        return {row["key"]: row["value"] for row in rows}
