"""Readers' schedules (SPEC 4.11, 4.12): time zone, digest time, quiet hours, and the
articles kept for a digest (`digest_items`, written by the fan-out in storage/articles.py).

`deliver_digests()` is the one place a digest leaves `digest_items`: marking the day done,
queueing the messages and clearing the items happen in one transaction, so a crash
either left everything as it was (the digest goes on the next run) or queued it once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.database import Database, utcnow
from storage.outbox import queue_messages
from storage.sql import Ints


@dataclass(frozen=True)
class DigestReader:
    chat_id: int
    timezone: str | None
    digest_time: str
    last_digest_on: str | None


@dataclass(frozen=True)
class DigestArticle:
    article_id: int
    title: str
    link: str | None
    topics: tuple[str, ...]


# language, topic ids the reader follows, articles newest first -> message texts
Render = Callable[[str, frozenset[str], Sequence[DigestArticle]], list[str]]

# Of the readers given: those still on a digest (their day is checked by the caller).
_ON_DIGEST = """
SELECT chat_id, language, active, paused, last_digest_on FROM chats
WHERE digest_time IS NOT NULL AND chat_id IN (SELECT value FROM json_each(:chats))
"""
_ITEMS = """
SELECT d.chat_id, a.article_id, a.title, a.link, a.topics
FROM digest_items d JOIN articles a ON a.article_id = d.article_id
WHERE d.chat_id IN (SELECT value FROM json_each(:chats))
ORDER BY d.chat_id, coalesce(a.published_at, a.stored_at) DESC, a.article_id DESC
"""
_FOLLOWED = """
SELECT chat_id, key FROM subscriptions
WHERE kind = 'topic' AND chat_id IN (SELECT value FROM json_each(:chats))
"""


class ScheduleRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _update(self, chat_id: int, assignments: str, params: tuple) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                f"UPDATE chats SET {assignments}, updated_at = ? WHERE chat_id = ?",
                (*params, utcnow(), chat_id),
            )

    async def set_timezone(self, chat_id: int, timezone: str | None) -> None:
        await self._update(chat_id, "timezone = ?", (timezone,))

    async def set_quiet(self, chat_id: int, start: str | None, end: str | None) -> None:
        await self._update(chat_id, "quiet_start = ?, quiet_end = ?", (start, end))

    async def set_digest(self, chat_id: int, digest_time: str) -> None:
        """Switch to (or move) the daily digest; articles kept so far stay for it."""
        await self._update(chat_id, "digest_time = ?", (digest_time,))

    async def digest_off(self, chat_id: int, now: datetime) -> int:
        """Back to instant pushes: articles kept for the digest are queued as pushes now
        (nothing a reader matched is lost); returns how many."""
        stamp = now.isoformat(timespec="seconds")
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE chats SET digest_time = NULL, updated_at = ? WHERE chat_id = ?",
                (stamp, chat_id),
            )
            moved = await conn.execute(
                "INSERT INTO outbox (chat_id, article_id, created_at)"
                " SELECT chat_id, article_id, CAST(? AS TEXT) FROM digest_items WHERE chat_id = ?"
                " ORDER BY article_id ON CONFLICT DO NOTHING",
                (stamp, chat_id),
            )
            await conn.execute("DELETE FROM digest_items WHERE chat_id = ?", (chat_id,))
        return moved

    async def digest_readers(self, chat_id: int | None = None) -> list[DigestReader]:
        """Private chats on a digest (all, or the one given)."""
        sql = (
            "SELECT chat_id, timezone, digest_time, last_digest_on FROM chats"
            " WHERE digest_time IS NOT NULL AND kind = 'private'"
        )
        params: tuple = ()
        if chat_id is not None:
            sql += " AND chat_id = ?"
            params = (chat_id,)
        rows = await self._db.fetch_all(sql, params)
        return [
            DigestReader(r["chat_id"], r["timezone"], r["digest_time"], r["last_digest_on"])
            for r in rows
        ]

    async def deliver_digests(
        self, due: Sequence[tuple[int, str]], render: Render, now: datetime
    ) -> dict[int, int]:
        """Queue the digests of readers `(chat_id, local date)` and clear their kept
        articles, in one transaction for the batch (each reader's digest is all or
        nothing, and one batch costs a handful of statements, not a handful per reader).

        Returns, per reader whose day was not done yet, the number of messages queued:
        0 for an empty day, or a paused or blocked reader (SPEC 7.6: they get nothing;
        the day still counts as done). Readers whose day was done already, or who left
        digests meanwhile, are not in the result."""
        if not due:
            return {}
        stamp = now.isoformat(timespec="seconds")
        async with self._db.transaction() as conn:
            days = dict(due)
            rows = await conn.fetch_all(_ON_DIGEST, {"chats": Ints(days)})
            chats = {r["chat_id"]: r for r in rows if r["last_digest_on"] != days[r["chat_id"]]}
            if not chats:
                return {}
            await conn.executemany(
                "UPDATE chats SET last_digest_on = ? WHERE chat_id = ?",
                [(days[chat_id], chat_id) for chat_id in chats],
            )
            ids = {"chats": Ints(chats)}
            kept: dict[int, list[DigestArticle]] = {}
            for r in await conn.fetch_all(_ITEMS, ids):
                article = DigestArticle(
                    r["article_id"], r["title"], r["link"], tuple(r["topics"].split())
                )
                kept.setdefault(r["chat_id"], []).append(article)
            followed: dict[int, set[str]] = {}
            if kept:
                for r in await conn.fetch_all(_FOLLOWED, ids):
                    followed.setdefault(r["chat_id"], set()).add(r["key"])
            sent = dict.fromkeys(chats, 0)
            messages: list[tuple[int, str]] = []
            for chat_id, articles in kept.items():
                chat = chats[chat_id]
                if not (chat["active"] and not chat["paused"]):
                    continue
                texts = render(chat["language"], frozenset(followed.get(chat_id, ())), articles)
                messages.extend((chat_id, text) for text in texts)
                sent[chat_id] = len(texts)
            if messages:
                await queue_messages(conn, messages, stamp)
            if kept:
                await conn.execute(
                    "DELETE FROM digest_items WHERE chat_id IN (SELECT value FROM json_each(?))",
                    (Ints(kept),),
                )
        return sent
