"""Editors' /stats and /export stats (SPEC 8.5): today's figures, the snapshots of a
window of days for the chart, and every snapshot as CSV. Independent of handlers."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.schedule import local_date
from bot.snapshots import day_bounds
from storage.snapshots import Snapshot, SnapshotRepository
from storage.stats import Stats, StatsRepository

DEFAULT_DAYS = 30
MAX_DAYS = 400  # as long as snapshots are kept


def parse_days(args: str | None) -> int | None:
    """`/stats [DAYS]`: the window, 1-400 days (30 without an argument); None when the
    argument is no such number."""
    text = (args or "").strip()
    if not text:
        return DEFAULT_DAYS
    if not (text.isascii() and text.isdecimal() and len(text) <= 3):
        return None
    days = int(text)
    return days if 1 <= days <= MAX_DAYS else None


class StatsService:
    def __init__(
        self, stats: StatsRepository, snapshots: SnapshotRepository, timezone: str
    ) -> None:
        self._stats = stats
        self._snapshots = snapshots
        self._zone = ZoneInfo(timezone)

    def _today(self) -> date:
        return local_date(datetime.now(UTC), self._zone)

    async def today(self) -> Stats:
        """The figures of this moment; "articles today" from local midnight (TIMEZONE)."""
        start, _ = day_bounds(self._today(), self._zone)
        return await self._stats.collect(start)

    async def history(self, days: int) -> list[Snapshot]:
        """The snapshots of the last `days` complete days, oldest first."""
        return await self._snapshots.since(self._today() - timedelta(days=days))

    async def export_csv(self) -> tuple[bytes, int]:
        """Every snapshot as one CSV row, and how many there are (built in a worker
        thread: 400 days of columns take tens of milliseconds)."""
        snapshots = await self._snapshots.all()
        return await asyncio.to_thread(snapshots_csv, snapshots), len(snapshots)


def snapshots_csv(snapshots: Sequence[Snapshot]) -> bytes:
    """One row a day, one column a figure. Topics, failure reasons and feeds become
    columns of their own (the union over all days, absent ones 0), so a spreadsheet can
    chart any of them. UTF-8 with a byte-order mark, which spreadsheet programs need to
    read Cyrillic feed names."""
    reasons = sorted({reason for s in snapshots for reason in s.failed})
    topics = sorted({topic for s in snapshots for topic in s.topics})
    feeds = sorted({feed for s in snapshots for feed in s.articles})
    header = [
        "day",
        "readers_total",
        "readers_active",
        "readers_paused",
        "readers_blocked",
        "readers_new",
        "messages_sent",
        "messages_failed",
        *(f"failed_{reason}" for reason in reasons),
        "keyword_subscriptions",
        "source_subscriptions",
        *(f"topic_{topic}" for topic in topics),
        "articles_total",
        *(f"feed_{feed}" for feed in feeds),  # never "articles_total", whatever the name
        "failing_feeds",
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for s in snapshots:
        writer.writerow(
            [
                s.day.isoformat(),
                s.readers_total,
                s.readers_active,
                s.readers_paused,
                s.readers_blocked,
                s.readers_new,
                s.sent,
                s.failed_total,
                *(s.failed.get(reason, 0) for reason in reasons),
                s.keyword_subscriptions,
                s.source_subscriptions,
                *(s.topics.get(topic, 0) for topic in topics),
                sum(s.articles.values()),
                *(s.articles.get(feed, 0) for feed in feeds),
                " ".join(_safe_cell(name) for name in s.failing_feeds),
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def _safe_cell(value: str) -> str:
    """A spreadsheet runs a cell that starts with = + - @ as a formula: a feed name is
    data, so such a start is quoted away."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
