"""Editors' breaking items (SPEC 8.2, 8.2a): drafts, their fan-out, and their copies.

A draft becomes an article without a feed when its editor presses Send; the article's
outbox rows go to the targeted readers and channels in the same transaction, with a
priority above ordinary articles, so the sender drains them first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.channels import queue_article
from storage.database import Connection, Database
from storage.outbox import queue_message
from storage.sql import Texts

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
    photo: str | None = None  # file_id of the photo the editor posted with the text


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
    photo: bool = False  # delivered as a photo: /correct edits its caption


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
        photo=row["photo"],
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


# The columns an item's outbox rows take from its parameters (typed for PostgreSQL).
_VALUES = (
    "SELECT c.chat_id, CAST(:article_id AS BIGINT), CAST(:priority AS INTEGER),"
    " CAST(:now AS TEXT)"
)


def _params(topics: Sequence[str]) -> dict[str, object]:
    return {"everyone": int(not topics), "topics": Texts(sorted(set(topics)))}


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
        readers = await self._db.fetch_value(f"SELECT count(*) {_READERS}", params)
        targets = await self._db.fetch_value(f"SELECT count(*) {channels}", params)
        return int(readers), int(targets)

    async def create(
        self,
        editor_id: int,
        text: str,
        topics: Sequence[str],
        now: datetime,
        photo: str | None = None,
    ) -> Breaking:
        async with self._db.transaction() as conn:
            row = await conn.fetch_one(
                "INSERT INTO breaking (editor_id, text, topics, created_at, photo)"
                " VALUES (?, ?, ?, ?, ?) RETURNING *",
                (editor_id, text, " ".join(topics), _stamp(now), photo),
            )
        return _breaking(row)

    async def close_draft(self, breaking_id: int, editor_id: int, status: str) -> bool:
        """Draft -> cancelled/expired, once: a second press finds no draft."""
        async with self._db.transaction() as conn:
            closed = await conn.execute(
                "UPDATE breaking SET status = ? WHERE breaking_id = ? AND editor_id = ?"
                " AND status = 'draft'",
                (status, breaking_id, editor_id),
            )
            return closed == 1

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
            row = await conn.fetch_one(
                "UPDATE breaking SET status = 'sent', sent_at = ? WHERE breaking_id = ?"
                " AND editor_id = ? AND status = 'draft' AND created_at >= ?"
                " RETURNING topics, photo",
                (stamp, breaking_id, editor_id, _stamp(created_after)),
            )
            if row is None:
                return None
            topics = row["topics"].split()
            article_id = await _insert_article(
                conn, breaking_id, title, summary, topics, stamp, row["photo"]
            )
            await conn.execute(
                "UPDATE breaking SET article_id = ? WHERE breaking_id = ?",
                (article_id, breaking_id),
            )
            params = {**_params(topics), "article_id": article_id, "now": stamp}
            params["priority"] = BREAKING_PRIORITY
            queued = await conn.execute(
                f"INSERT INTO outbox (chat_id, article_id, priority, created_at) {_VALUES}"
                f" {_READERS} ON CONFLICT DO NOTHING",
                params,
            )
            if topics:
                queued += await queue_article(
                    conn, article_id, topics, stamp, priority=BREAKING_PRIORITY
                )
            else:
                queued += await conn.execute(
                    f"INSERT INTO outbox (chat_id, article_id, priority, created_at) {_VALUES}"
                    f" {_OPEN_CHANNELS} ON CONFLICT DO NOTHING",
                    params,
                )
        return queued

    async def delivery(self, article_id: int) -> Delivery:
        rows = await self._db.fetch_all(_DELIVERY, (article_id,))
        return _delivery_of(rows)

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
            row = await conn.fetch_one(
                "UPDATE breaking SET reported_at = ? WHERE breaking_id = ?"
                " AND status = 'sent' AND reported_at IS NULL AND article_id IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.article_id = breaking.article_id"
                " AND o.status IN ('pending', 'sending')) RETURNING *",
                (stamp, breaking_id),
            )
            if row is None:
                return False
            item = _breaking(row)
            assert item.article_id is not None
            text = report(item, await _delivery(conn, item.article_id))
            known = await conn.fetch_one(
                "SELECT 1 FROM chats WHERE chat_id = ?", (item.editor_id,)
            )
            if known is not None:
                await queue_message(conn, item.editor_id, text, stamp, priority=BREAKING_PRIORITY)
        return True

    async def copies(self, article_id: int) -> list[Copy]:
        rows = await self._db.fetch_all(
            "SELECT o.outbox_id, o.chat_id, o.message_id, c.kind, c.language, o.photo FROM outbox o"
            " JOIN chats c ON c.chat_id = o.chat_id WHERE o.article_id = ?"
            " AND o.status = 'sent' AND o.message_id IS NOT NULL ORDER BY o.outbox_id",
            (article_id,),
        )
        return [
            Copy(
                r["outbox_id"],
                r["chat_id"],
                r["message_id"],
                r["kind"],
                r["language"],
                bool(r["photo"]),
            )
            for r in rows
        ]

    async def correct(
        self, breaking_id: int, text: str, title: str, summary: str, now: datetime
    ) -> int:
        """New text for the item and its article (rows not sent yet go out corrected);
        returns how many rows are still waiting."""
        stamp = _stamp(now)
        async with self._db.transaction() as conn:
            row = await conn.fetch_one(
                "UPDATE breaking SET text = ?, corrected_at = ? WHERE breaking_id = ?"
                " RETURNING article_id",
                (text, stamp, breaking_id),
            )
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
            row = await conn.fetch_one(
                "UPDATE breaking SET recalled_at = ? WHERE breaking_id = ?"
                " AND recalled_at IS NULL AND article_id IS NOT NULL RETURNING article_id",
                (_stamp(now), breaking_id),
            )
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
            dropped = await conn.execute(
                "UPDATE outbox SET status = 'dropped', last_error = 'recalled by the editor'"
                " WHERE article_id = ? AND status IN ('pending', 'sending')",
                (row["article_id"],),
            )
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


_DELIVERY = "SELECT status, count(*) AS n FROM outbox WHERE article_id = ? GROUP BY status"


async def _delivery(conn: Connection, article_id: int) -> Delivery:
    return _delivery_of(await conn.fetch_all(_DELIVERY, (article_id,)))


def _delivery_of(rows: Sequence) -> Delivery:
    found = {row["status"]: row["n"] for row in rows}
    return Delivery(
        sent=found.get("sent", 0),
        blocked=found.get("dropped", 0),
        failed=found.get("failed", 0),
        pending=found.get("pending", 0) + found.get("sending", 0),
    )


async def _waiting(conn: Connection, article_id: int) -> int:
    waiting = await conn.fetch_value(
        "SELECT count(*) FROM outbox WHERE article_id = ? AND status IN ('pending', 'sending')",
        (article_id,),
    )
    return int(waiting)


async def _insert_article(
    conn: Connection,
    breaking_id: int,
    title: str,
    summary: str,
    topics: Sequence[str],
    stamp: str,
    photo: str | None = None,
) -> int:
    article_id = await conn.fetch_value(
        "INSERT INTO articles (feed_id, title, title_key, summary, published_at, stored_at,"
        " topics, pushed, image) VALUES (NULL, ?, ?, ?, ?, ?, ?, 1, ?) RETURNING article_id",
        (title, f"breaking:{breaking_id}", summary, stamp, stamp, " ".join(topics), photo),
    )
    await conn.executemany(
        "INSERT INTO article_topics (topic_id, article_id) VALUES (?, ?)",
        [(topic, article_id) for topic in topics],
    )
    return article_id
