"""The editor role (SPEC 8.1): `chats.role` of an editor's private chat. Admins are not
stored: they come from ADMIN_IDS."""

from __future__ import annotations

from storage.database import Database, utcnow


class RoleRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def is_editor(self, user_id: int) -> bool:
        row = await self._db.fetch_one(
            "SELECT 1 FROM chats WHERE chat_id = ? AND role = 'editor'", (user_id,)
        )
        return row is not None

    async def set_editor(self, user_id: int, editor: bool) -> bool:
        """Grant or revoke; True when this changed anything.

        A user the bot has never talked to gets an inactive chat row holding the role:
        inactive, so no broadcast is addressed to a chat that cannot receive it yet; their
        first message to the bot activates it and keeps the role."""
        role = "editor" if editor else "reader"
        now = utcnow()
        async with self._db.transaction() as conn:
            if editor:
                await conn.execute(
                    "INSERT INTO chats (chat_id, kind, language, active, created_at, updated_at)"
                    " VALUES (?, 'private', 'en', 0, ?, ?) ON CONFLICT (chat_id) DO NOTHING",
                    (user_id, now, now),
                )
            changed = await conn.execute(
                "UPDATE chats SET role = ?, updated_at = ? WHERE chat_id = ? AND kind = 'private'"
                " AND role != ?",
                (role, now, user_id, role),
            )
            return changed == 1

    async def editors(self) -> list[int]:
        rows = await self._db.fetch_all(
            "SELECT chat_id FROM chats WHERE role = 'editor' ORDER BY chat_id"
        )
        return [row["chat_id"] for row in rows]
