"""One leader among copies of the bot on one PostgreSQL database (SPEC 8c).

The leader holds a session advisory lock on a connection of its own; the server frees it
when that connection ends, even when the process was killed. Only the leader polls feeds,
queues digests, sends and (in polling mode) calls getUpdates: one send-rate bucket, one
getUpdates consumer. The other copies are standbys that try the lock every
`retry_seconds`.

Fencing: the leader checks its lock connection every `check_seconds`. When it is gone
(the server restarted, the network dropped, an operator terminated it) another copy may
already be leader, so this one stops claiming outbox rows at once and stops: `main()`
exits non-zero and the supervisor starts it again, as a standby. Rows it had claimed
return to the queue when their lease runs out (storage/outbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import asyncpg

from storage.postgres import PostgresDatabase

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0


class LeadershipLost(RuntimeError):
    """The leader's lock connection is gone: this copy must stop."""


@dataclass
class Leadership:
    database: PostgresDatabase
    retry_seconds: float = 1.5
    check_seconds: float = 1.0
    role: str = "standby"  # "standby" | "leader" (SQLite: always the leader)
    changes: int = 0  # times this copy became leader
    fenced: bool = False  # lost the lock: claim nothing more

    @property
    def is_leader(self) -> bool:
        return self.role == "leader" and not self.fenced

    async def wait_until_leader(self, stop: asyncio.Event) -> bool:
        """Standby until the lock is ours (True), or `stop` (False)."""
        announced = False
        while not stop.is_set():
            try:
                if await self.database.try_leader_lock():
                    self.role = "leader"
                    self.changes += 1
                    log.info("this copy is now the leader")
                    return True
                if not announced:
                    log.info("another copy is the leader; standing by")
                    announced = True
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("leader lock: database unreachable (%s)", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_seconds)
        return False

    async def watch(self, stop: asyncio.Event) -> None:
        """While leader: check the lock connection; when it is gone, fence and stop."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.check_seconds)
            if stop.is_set():
                return
            if not await self.database.leader_lock_alive(CHECK_TIMEOUT):
                self.fenced = True
                self.role = "standby"
                log.error("lost the leader lock (database connection gone); stopping at once")
                stop.set()
                return
