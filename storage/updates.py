"""Webhook updates already handled, shared by every copy of the bot (SPEC 3, 8c).

Telegram delivers one update at a time and delivers it again when it got no 200, to
whichever copy the load balancer picks. The id is recorded after the update was handled
(never before: a copy that dies mid-update must leave it to the redelivery), and ids
far behind the newest are pruned in the same statement's transaction.
"""

from __future__ import annotations

from storage.database import Database, utcnow

# Telegram redelivers its oldest undelivered update, never one this far back.
KEPT_IDS = 100_000


class UpdateLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def seen(self, update_id: int) -> bool:
        row = await self._db.fetch_one(
            "SELECT 1 FROM handled_updates WHERE update_id = ?", (update_id,)
        )
        return row is not None

    async def record(self, update_id: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO handled_updates (update_id, handled_at) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                (update_id, utcnow()),
            )
            await conn.execute(
                "DELETE FROM handled_updates WHERE update_id < ?", (update_id - KEPT_IDS,)
            )
