"""The daily snapshot job (SPEC 8.5): one snapshot per local day of TIMEZONE.

It runs at start-up and five minutes past every hour (bot/app.py), and takes the day
before today when it is missing: the first run after midnight (00:05) takes it, a run
that failed is retried within the hour, and a zone whose clock jumps at midnight (00:05
does not exist that day) still gets it at 01:05. Days the bot was down for longer stay
missing: their totals can no longer be known. Day boundaries are the local midnights
converted to UTC one by one, so the day a clock moves has 23 or 25 hours and counts
exactly those. Snapshots older than 400 days are pruned at the same time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.schedule import local_date
from storage.snapshots import KEEP_DAYS, SnapshotRepository

log = logging.getLogger(__name__)

RUN_AT_MINUTE = 5  # past every hour: the first run after local midnight takes the day


def utc_now() -> datetime:
    return datetime.now(UTC)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first moment of `day` in `zone`, in UTC (a day may have 23 or 25 hours)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[str, str]:
    """[start, end) of the local `day` as stored UTC stamps."""
    start = local_midnight(day, zone)
    end = local_midnight(day + timedelta(days=1), zone)
    return start.isoformat(timespec="seconds"), end.isoformat(timespec="seconds")


def last_complete_day(now: datetime, zone: ZoneInfo) -> date:
    """The local day before the one `now` falls in."""
    return now.astimezone(zone).date() - timedelta(days=1)


class SnapshotJob:
    def __init__(
        self,
        snapshots: SnapshotRepository,
        timezone: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        keep_days: int = KEEP_DAYS,
    ) -> None:
        self._snapshots = snapshots
        self._zone = ZoneInfo(timezone)
        self._clock = clock
        self._keep = keep_days
        self._running = asyncio.Lock()
        self._stopping = False

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    def today(self) -> date:
        return local_date(self._clock(), self._zone)

    async def run_due(self) -> bool:
        """Take the snapshot of the last complete day if it is missing, and prune; True
        when a snapshot was stored now. Safe to run any number of times."""
        if self._stopping:
            return False
        async with self._running:
            return await self._run()

    async def stop(self) -> None:
        """Let a run in progress finish and wait for it, before the database closes (the
        scheduler does not await its jobs); later runs do nothing."""
        self._stopping = True
        async with self._running:
            pass

    async def _run(self) -> bool:
        day = last_complete_day(self._clock(), self._zone)
        start, end = day_bounds(day, self._zone)
        if not await self._snapshots.take(day, start, end):
            return False
        log.info("stats snapshot of %s taken", day.isoformat())
        # Once a day, with the day's snapshot: the other runs need no write at all.
        pruned = await self._snapshots.prune(self.today() - timedelta(days=self._keep))
        if pruned:
            log.info("%d stats snapshot(s) older than %d days pruned", pruned, self._keep)
        return True
