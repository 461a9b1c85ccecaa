"""Chats the bot talks to: readers' private chats now, channels and groups later."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database, utcnow


@dataclass(frozen=True)
class Chat:
    chat_id: int
    kind: str
    language: str
    role: str
    paused: bool
    active: bool
    # Reader schedules (SPEC 4.11, 4.12): local 'HH:MM' texts; timezone None: TIMEZONE.
    timezone: str | None = None
    digest_time: str | None = None
    quiet_start: str | None = None
    quiet_end: str | None = None
    previews: bool = True  # link previews in pushes (SPEC 7.5, /previews)
    photos: bool = True  # a channel's posts of items with a picture are photos (SPEC 8.4)


def _chat(row) -> Chat:
    return Chat(
        chat_id=row["chat_id"],
        kind=row["kind"],
        language=row["language"],
        role=row["role"],
        paused=bool(row["paused"]),
        active=bool(row["active"]),
        timezone=row["timezone"],
        digest_time=row["digest_time"],
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        previews=bool(row["previews"]),
        photos=bool(row["photos"]),
    )


class ChatRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, chat_id: int) -> Chat | None:
        row = await self._db.fetch_one("SELECT * FROM chats WHERE chat_id = ?", (chat_id,))
        return _chat(row) if row else None

    async def register(
        self, chat_id: int, language: str, kind: str = "private"
    ) -> tuple[Chat, bool]:
        """Create the chat, or re-activate it keeping its settings; returns (chat, created)."""
        now = utcnow()
        async with self._db.transaction() as conn:
            inserted = await conn.execute(
                "INSERT INTO chats (chat_id, kind, language, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat_id) DO NOTHING",
                (chat_id, kind, language, now, now),
            )
            created = inserted == 1
            if not created:
                await conn.execute(
                    "UPDATE chats SET active = 1, updated_at = ? WHERE chat_id = ? AND active = 0",
                    (now, chat_id),
                )
        chat = await self.get(chat_id)
        assert chat is not None
        return chat, created

    async def _set(self, chat_id: int, column: str, value: object) -> bool:
        """Set one column; True when the stored value changed."""
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                f"UPDATE chats SET {column} = ?, updated_at = ?"
                f" WHERE chat_id = ? AND {column} != ?",
                (value, utcnow(), chat_id, value),
            )
            return changed == 1

    async def set_language(self, chat_id: int, language: str) -> bool:
        return await self._set(chat_id, "language", language)

    async def set_paused(self, chat_id: int, paused: bool) -> bool:
        return await self._set(chat_id, "paused", int(paused))

    async def set_active(self, chat_id: int, active: bool) -> bool:
        return await self._set(chat_id, "active", int(active))

    async def set_previews(self, chat_id: int, previews: bool) -> bool:
        return await self._set(chat_id, "previews", int(previews))
