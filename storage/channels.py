"""Channel and group targets (SPEC 8.4): chats the bot auto-posts matching articles to.

A target is a `chats` row with `target = 1` (kind group, supergroup or channel). Its topic
filter is its `subscriptions` rows of kind 'topic'; no rows means every topic. Articles
reach targets through `queue_article()`, called inside the transaction that stores the
article, exactly like readers' rows (SPEC 7.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.database import Connection, Database, utcnow
from storage.sql import Texts

TARGET_KINDS = ("group", "supergroup", "channel")


@dataclass(frozen=True)
class Channel:
    chat_id: int
    kind: str
    title: str | None
    username: str | None  # without @
    thread_id: int | None  # forum topic (message_thread_id)
    language: str
    active: bool  # False once Telegram refused a post (bot removed, no rights)
    topics: tuple[str, ...]  # the filter; empty: every topic
    photos: bool = True  # items with a picture are posted as photos (SPEC 8.4)

    @property
    def label(self) -> str:
        """How admins see it: @name, else the title, else the id."""
        if self.username:
            return f"@{self.username}"
        return self.title or str(self.chat_id)


# Every active target whose filter is empty or names one of the article's topics. An
# article without topics goes nowhere: a channel "of all topics" carries the agency's
# subjects, not every item of a general news feed.
_QUEUE = """
INSERT INTO outbox (chat_id, article_id, priority, created_at)
SELECT c.chat_id, CAST(:article_id AS BIGINT), CAST(:priority AS INTEGER), CAST(:now AS TEXT)
FROM chats c
WHERE c.target = 1 AND c.active = 1 AND c.paused = 0 AND c.kind != 'private'
  AND EXISTS (SELECT 1 FROM json_each(:topics))
  AND (NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.chat_id = c.chat_id AND s.kind = 'topic')
       OR EXISTS (SELECT 1 FROM subscriptions s WHERE s.chat_id = c.chat_id AND s.kind = 'topic'
                  AND s.key IN (SELECT value FROM json_each(:topics))))
ON CONFLICT DO NOTHING
"""


async def queue_article(
    conn: Connection,
    article_id: int,
    topics: Sequence[str],
    now: datetime | str,
    *,
    priority: int = 0,
) -> int:
    """Write outbox rows for every target that wants the article; returns how many.

    Runs on the caller's open connection, inside its transaction (e.g. the one of
    `ArticleRepository.store` or of an editor's post); it never commits."""
    stamp = now if isinstance(now, str) else now.isoformat(timespec="seconds")
    count = await conn.execute(
        _QUEUE,
        {
            "article_id": article_id,
            "priority": priority,
            "now": stamp,
            "topics": Texts(sorted(set(topics))),
        },
    )
    return count


class ChannelRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    queue_article = staticmethod(queue_article)

    async def upsert(
        self,
        chat_id: int,
        kind: str,
        title: str | None,
        username: str | None,
        thread_id: int | None = None,
        topics: Sequence[str] | None = None,
        *,
        language: str = "ru",
    ) -> Channel:
        """Make a chat a target (again), re-activating it.

        `topics`: None keeps the current filter (a new target gets every topic), so
        seeding CHANNEL_IDS at each start never wipes what an admin set; an empty list
        clears the filter; a list replaces it. `language` applies to a new target only."""
        if kind not in TARGET_KINDS:
            raise ValueError(f"a target must be a group, supergroup or channel, not {kind!r}")
        if chat_id >= 0:
            raise ValueError(f"group and channel ids are negative, got {chat_id}")
        username = username.lstrip("@") if username else None
        now = utcnow()
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO chats (chat_id, kind, language, title, username, thread_id, target,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT (chat_id) DO UPDATE SET kind = excluded.kind,"
                " title = coalesce(excluded.title, chats.title),"
                " username = coalesce(excluded.username, chats.username),"
                " thread_id = excluded.thread_id, target = 1, active = 1,"
                " updated_at = excluded.updated_at",
                (chat_id, kind, language, title, username, thread_id, now, now),
            )
            if topics is not None:
                await conn.execute(
                    "DELETE FROM subscriptions WHERE chat_id = ? AND kind = 'topic'", (chat_id,)
                )
                await conn.executemany(
                    "INSERT INTO subscriptions (chat_id, kind, value, key, created_at)"
                    " VALUES (?, 'topic', ?, ?, ?) ON CONFLICT DO NOTHING",
                    [(chat_id, topic, topic, now) for topic in sorted(set(topics))],
                )
        channel = await self.get(chat_id)
        assert channel is not None
        return channel

    async def list(self) -> list[Channel]:
        rows = await self._db.fetch_all(
            f"{_SELECT} WHERE c.target = 1 GROUP BY c.chat_id ORDER BY c.created_at, c.chat_id"
        )
        return [_channel(row) for row in rows]

    async def get(self, chat_id: int) -> Channel | None:
        row = await self._db.fetch_one(
            f"{_SELECT} WHERE c.target = 1 AND c.chat_id = ? GROUP BY c.chat_id", (chat_id,)
        )
        return _channel(row) if row else None

    async def known(self, chat_id: int) -> bool:
        """Whether the bot has a row for this chat at all (a target, removed or blocked)."""
        row = await self._db.fetch_one("SELECT 1 FROM chats WHERE chat_id = ?", (chat_id,))
        return row is not None

    async def find(self, ref: str) -> Channel | None:
        """A target named as admins write it: a numeric id or @username."""
        ref = ref.strip()
        if ref.startswith("@"):
            row = await self._db.fetch_one(
                f"{_SELECT} WHERE c.target = 1 AND lower(c.username) = lower(?)"
                " GROUP BY c.chat_id",
                (ref[1:],),
            )
            return _channel(row) if row else None
        try:
            return await self.get(int(ref))
        except ValueError:
            return None

    async def configure(
        self, chat_id: int, *, photos: bool | None = None, language: str | None = None
    ) -> Channel | None:
        """`/channel set` (SPEC 8.4): change what is given, keep the rest; None when the
        chat is not a target. Applies to posts sent from now on, queued ones included."""
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE chats SET photos = coalesce(?, photos), language = coalesce(?, language),"
                " updated_at = ? WHERE chat_id = ? AND target = 1",
                (None if photos is None else int(photos), language, utcnow(), chat_id),
            )
        return await self.get(chat_id) if changed == 1 else None

    async def remove(self, chat_id: int) -> bool:
        """Stop posting to a target: its filter goes and its queued posts are dropped.

        The chat row stays (sent rows reference it)."""
        async with self._db.transaction() as conn:
            removed = await conn.execute(
                "UPDATE chats SET target = 0, updated_at = ? WHERE chat_id = ? AND target = 1",
                (utcnow(), chat_id),
            )
            if removed != 1:
                return False
            await conn.execute(
                "DELETE FROM subscriptions WHERE chat_id = ? AND kind = 'topic'", (chat_id,)
            )
            await conn.execute(
                "UPDATE outbox SET status = 'dropped', last_error = 'target removed'"
                " WHERE chat_id = ? AND status IN ('pending', 'sending')",
                (chat_id,),
            )
        return True


_SELECT = """
SELECT c.chat_id, c.kind, c.title, c.username, c.thread_id, c.language, c.active, c.photos,
       group_concat(s.key, ' ') AS topics
FROM chats c
LEFT JOIN subscriptions s ON s.chat_id = c.chat_id AND s.kind = 'topic'
"""


def _channel(row) -> Channel:
    return Channel(
        chat_id=row["chat_id"],
        kind=row["kind"],
        title=row["title"],
        username=row["username"],
        thread_id=row["thread_id"],
        language=row["language"],
        active=bool(row["active"]),
        topics=tuple(sorted((row["topics"] or "").split())),
        photos=bool(row["photos"]),
    )
