"""Editors' breaking items (SPEC 8.2, 8.2a): drafts, their fan-out, and their copies.

A draft becomes an article without a feed when its editor presses Send; the article's
outbox rows go to the targeted readers and channels in the same transaction, with a
priority above ordinary articles, so the sender drains them first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.channels import queue_article
from storage.database import Database
from storage.outbox import queue_message

BREAKING_PRIORITY = 10


@dataclass(frozen=True)
class Breaking:
    breaking_id: int
    editor_id: int
    text: str
    topics: tuple[str, ...]
    status: str  # draft | sent | cancelled | expired
    article_id: int | None
    created_at: str
    sent_at: str | None
    reported_at: str | None
    recalled_at: str | None


@dataclass(frozen=True)
class Delivery:
    """Where an item's outbox rows stand: the report (SPEC 8.2)."""

    sent: int = 0
    blocked: int = 0  # dropped: the chat blocked the bot, vanished, or paused meanwhile
    failed: int = 0
    pending: int = 0


@dataclass(frozen=True)
class Copy:
    """One delivered copy of an item: what /correct edits and /recall deletes."""

    outbox_id: int
    chat_id: int
    message_id: int
    chat_kind: str
    language: str


def _breaking(row) -> Breaking:
    return Breaking(
        breaking_id=row["breaking_id"],
        editor_id=row["editor_id"],
        text=row["text"],
        topics=tuple(row["topics"].split()),
        status=row["status"],
        article_id=row["article_id"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        reported_at=row["reported_at"],
        recalled_at=row["recalled_at"],
    )


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


# Private readers an item reaches: every active, unpaused one, or (with topics) those
# subscribed to one of them. Breaking items ignore digest mode: they are always instant.
_READERS = """
FROM chats c
WHERE c.kind = 'private' AND c.active = 1 AND c.paused = 0
  AND (:everyone = 1 OR EXISTS (
        SELECT 1 FROM subscriptions s WHERE s.chat_id = c.chat_id AND s.kind = 'topic'
        AND s.key IN (SELECT value FROM json_each(:topics))))
"""
# An item for everyone goes to the channels that take every topic (no filter); an item
# with topics goes where `queue_article` sends an article with those topics.
_OPEN_CHANNELS = """
FROM chats c
WHERE c.target = 1 AND c.active = 1 AND c.paused = 0 AND c.kind != 'private'
  AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.chat_id = c.chat_id AND s.kind = 'topic')
"""
_FILTERED_CHANNELS = """
FROM chats c
WHERE c.target = 1 AND c.active = 1 AND c.paused = 0 AND c.kind != 'private'
  AND (NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.chat_id = c.chat_id AND s.kind = 'topic')
       OR EXISTS (SELECT 1 FROM subscriptions s WHERE s.chat_id = c.chat_id AND s.kind = 'topic'
                  AND s.key IN (SELECT value FROM json_each(:topics))))
"""


def _params(topics: Sequence[str]) -> dict[str, object]:
    return {"everyone": int(not topics), "topics": json.dumps(sorted(set(topics)))}


class BreakingRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, breaking_id: int) -> Breaking | None:
        row = await self._db.fetch_one(
            "SELECT * FROM breaking WHERE breaking_id = ?", (breaking_id,)
        )
        return _breaking(row) if row else None

    async def audience(self, topics: Sequence[str]) -> tuple[int, int]:
        """(readers, channels) an item with these topics would reach now."""
        params = _params(topics)
        channels = _FILTERED_CHANNELS if topics else _OPEN_CHANNELS
        async with self._db.connection.execute(f"SELECT count(*) {_READERS}", params) as cur:
            readers = (await cur.fetchone())[0]
        async with self._db.connection.execute(f"SELECT count(*) {channels}", params) as cur:
            targets = (await cur.fetchone())[0]
        return int(readers), int(targets)

    async def create(
        self, editor_id: int, text: str, topics: Sequence[str], now: datetime
    ) -> Breaking:
        async with self._db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO breaking (editor_id, text, topics, created_at) VALUES (?, ?, ?, ?)"
                " RETURNING *",
                (editor_id, text, " ".join(topics), _stamp(now)),
            ) as cursor:
                row = await cursor.fetchone()
        return _breaking(row)

    async def close_draft(self, breaking_id: int, editor_id: int, status: str) -> bool:
        """Draft -> cancelled/expired, once: a second press finds no draft."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE breaking SET status = ? WHERE breaking_id = ? AND editor_id = ?"
                " AND status = 'draft'",
                (status, breaking_id, editor_id),
            )
            return cursor.rowcount == 1

    async def send(
        self,
        breaking_id: int,
        editor_id: int,
        title: str,
        summary: str,
        created_after: datetime,
        now: datetime,
    ) -> int | None:
        """Draft -> sent: store the article and its outbox rows in one transaction.

        Returns the number of rows queued, or None when the draft is not this editor's,
        not a draft any more (a second press) or older than `created_after`."""
        stamp = _stamp(now)
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE breaking SET status = 'sent', sent_at = ? WHERE breaking_id = ?"
                " AND editor_id = ? AND status = 'draft' AND created_at >= ? RETURNING topics",
                (stamp, breaking_id, editor_id, _stamp(created_after)),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            topics = row["topics"].split()
            article_id = await _insert_article(conn, breaking_id, title, summary, topics, stamp)
            await conn.execute(
                "UPDATE breaking SET article_id = ? WHERE breaking_id = ?",
                (article_id, breaking_id),
            )
            params = {**_params(topics), "article_id": article_id, "now": stamp}
            params["priority"] = BREAKING_PRIORITY
            cursor = await conn.execute(
                "INSERT OR IGNORE INTO outbox (chat_id, article_id, priority, created_at)"
                f" SELECT c.chat_id, :article_id, :priority, :now {_READERS}",
                params,
            )
            queued = cursor.rowcount
            await cursor.close()
            if topics:
                queued += await queue_article(
                    conn, article_id, topics, stamp, priority=BREAKING_PRIORITY
                )
            else:
                cursor = await conn.execute(
                    "INSERT OR IGNORE INTO outbox (chat_id, article_id, priority, created_at)"
                    f" SELECT c.chat_id, :article_id, :priority, :now {_OPEN_CHANNELS}",
                    params,
                )
                queued += cursor.rowcount
                await cursor.close()
        return queued

    async def delivery(self, article_id: int) -> Delivery:
        return await _delivery(self._db.connection, article_id)

    async def finished_unreported(self) -> list[Breaking]:
        """Sent items with no row left to send whose editor has no report yet."""
        rows = await self._db.fetch_all(
            "SELECT * FROM breaking b WHERE b.status = 'sent' AND b.reported_at IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.article_id = b.article_id"
            " AND o.status IN ('pending', 'sending')) ORDER BY b.breaking_id"
        )
        return [_breaking(r) for r in rows]

    async def queue_report(
        self,
        breaking_id: int,
        report: Callable[[Breaking, Delivery], str],
        now: datetime,
    ) -> bool:
        """Queue the editor's report and mark the item reported, once, and only when no
        row is left to send. The check and the counts are read under the write lock, so
        `send()`'s item, marked sent before its rows exist, is never reported early."""
        stamp = _stamp(now)
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE breaking SET reported_at = ? WHERE breaking_id = ?"
                " AND status = 'sent' AND reported_at IS NULL AND article_id IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.article_id = breaking.article_id"
                " AND o.status IN ('pending', 'sending')) RETURNING *",
                (stamp, breaking_id),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return False
            item = _breaking(row)
            assert item.article_id is not None
            text = report(item, await _delivery(conn, item.article_id))
            async with conn.execute(
                "SELECT 1 FROM chats WHERE chat_id = ?", (item.editor_id,)
            ) as cursor:
                known = await cursor.fetchone()
            if known is not None:
                await queue_message(conn, item.editor_id, text, stamp, priority=BREAKING_PRIORITY)
        return True

    async def copies(self, article_id: int) -> list[Copy]:
        rows = await self._db.fetch_all(
            "SELECT o.outbox_id, o.chat_id, o.message_id, c.kind, c.language FROM outbox o"
            " JOIN chats c ON c.chat_id = o.chat_id WHERE o.article_id = ?"
            " AND o.status = 'sent' AND o.message_id IS NOT NULL ORDER BY o.outbox_id",
            (article_id,),
        )
        return [
            Copy(r["outbox_id"], r["chat_id"], r["message_id"], r["kind"], r["language"])
            for r in rows
        ]

    async def correct(
        self, breaking_id: int, text: str, title: str, summary: str, now: datetime
    ) -> int:
        """New text for the item and its article (rows not sent yet go out corrected);
        returns how many rows are still waiting."""
        stamp = _stamp(now)
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE breaking SET text = ?, corrected_at = ? WHERE breaking_id = ?"
                " RETURNING article_id",
                (text, stamp, breaking_id),
            ) as cursor:
                row = await cursor.fetchone()
            article_id = row["article_id"]
            await conn.execute(
                "UPDATE articles SET title = ?, summary = ? WHERE article_id = ?",
                (title, summary, article_id),
            )
            return await _waiting(conn, article_id)

    async def recall(self, breaking_id: int, now: datetime) -> int | None:
        """Mark the item recalled, drop its rows not sent yet (returns how many) and take
        it out of every listing; None when it was recalled already (one UPDATE decides,
        so two /recall at once cannot both proceed)."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE breaking SET recalled_at = ? WHERE breaking_id = ?"
                " AND recalled_at IS NULL AND article_id IS NOT NULL RETURNING article_id",
                (_stamp(now), breaking_id),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            # Out of topic listings and keyword searches (/latest) too; the article row
            # stays for the counts.
            await conn.execute(
                "DELETE FROM article_topics WHERE article_id = ?", (row["article_id"],)
            )
            await conn.execute(
                "UPDATE articles SET recalled = 1 WHERE article_id = ?", (row["article_id"],)
            )
            cursor = await conn.execute(
                "UPDATE outbox SET status = 'dropped', last_error = 'recalled by the editor'"
                " WHERE article_id = ? AND status IN ('pending', 'sending')",
                (row["article_id"],),
            )
            dropped = cursor.rowcount
            await cursor.close()
            return dropped

    async def copy_deleted(self, outbox_id: int) -> None:
        """A recalled copy is gone from its chat: `copies()` skips it from now on, so
        running /recall again only deletes what is left."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET message_id = NULL, last_error = 'deleted by /recall'"
                " WHERE outbox_id = ?",
                (outbox_id,),
            )


async def _delivery(conn: aiosqlite.Connection, article_id: int) -> Delivery:
    async with conn.execute(
        "SELECT status, count(*) AS n FROM outbox WHERE article_id = ? GROUP BY status",
        (article_id,),
    ) as cursor:
        found = {row["status"]: row["n"] for row in await cursor.fetchall()}
    return Delivery(
        sent=found.get("sent", 0),
        blocked=found.get("dropped", 0),
        failed=found.get("failed", 0),
        pending=found.get("pending", 0) + found.get("sending", 0),
    )


async def _waiting(conn: aiosqlite.Connection, article_id: int) -> int:
    async with conn.execute(
        "SELECT count(*) FROM outbox WHERE article_id = ? AND status IN ('pending', 'sending')",
        (article_id,),
    ) as cursor:
        return int((await cursor.fetchone())[0])


async def _insert_article(
    conn: aiosqlite.Connection,
    breaking_id: int,
    title: str,
    summary: str,
    topics: Sequence[str],
    stamp: str,
) -> int:
    async with conn.execute(
        "INSERT INTO articles (feed_id, title, title_key, summary, published_at, stored_at,"
        " topics, pushed) VALUES (NULL, ?, ?, ?, ?, ?, ?, 1) RETURNING article_id",
        (title, f"breaking:{breaking_id}", summary, stamp, stamp, " ".join(topics)),
    ) as cursor:
        article_id = int((await cursor.fetchone())[0])
    await conn.executemany(
        "INSERT INTO article_topics (topic_id, article_id) VALUES (?, ?)",
        [(topic, article_id) for topic in topics],
    )
    return article_id
