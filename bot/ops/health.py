"""`/healthz` (SPEC 8b): is this process doing its job?

Healthy means: the database answers `SELECT 1`, the scheduler runs, the sender task is
alive, and the last poll cycle is not overdue. A standby replica (PostgreSQL, SPEC 8c)
runs none of these: it is healthy when the database answers. Before start-up finishes (Telegram not
reachable yet) the scheduler and the sender are not started, so the bot is unhealthy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.base import BaseScheduler

from storage.ops import OpsRepository

log = logging.getLogger(__name__)

DATABASE_TIMEOUT = 5.0


def poll_deadline(interval: timedelta) -> timedelta:
    """How long without a finished poll cycle is overdue: three missed periods, and at
    least ten minutes (a cycle of slow feeds takes their 20 s timeouts)."""
    return max(3 * interval, interval + timedelta(minutes=10))


@dataclass
class HealthProbe:
    """What `/healthz` looks at; `main()` fills in the scheduler and the sender task as
    they start."""

    ops: OpsRepository
    last_poll_at: Callable[[], datetime | None]
    poll_interval: timedelta
    scheduler: BaseScheduler | None = None
    sender_task: asyncio.Task[None] | None = None
    role: Callable[[], str] = lambda: "leader"  # PostgreSQL replicas: or "standby"
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the JSON body)."""
        database = await self._database_ok()
        scheduler = self.scheduler is not None and self.scheduler.running
        sender = self.sender_task is not None and not self.sender_task.done()
        last = self.last_poll_at()
        since = self.clock() - (last or self.started_at)
        poll_overdue = since > poll_deadline(self.poll_interval)
        role = self.role()
        if role == "standby":  # it runs no jobs: it can serve once the database answers
            healthy = database
        else:
            healthy = database and scheduler and sender and not poll_overdue
        return healthy, {
            "status": "ok" if healthy else "unhealthy",
            "role": role,
            "database": database,
            "scheduler": scheduler,
            "sender": sender,
            "last_poll_at": last.isoformat(timespec="seconds") if last else None,
            "poll_overdue": poll_overdue,
        }

    async def _database_ok(self) -> bool:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT):
                await self.ops.ping()
        except Exception as error:
            log.warning("healthz: the database did not answer: %s", error)
            return False
        return True
