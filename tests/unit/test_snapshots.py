"""Daily snapshots (SPEC 8.5): one per local day, idempotent, exact across DST, pruned
past 400 days; on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.snapshots import SnapshotJob, day_bounds, last_complete_day
from storage.outbox import Failed, OutboxRepository
from storage.snapshots import Snapshot, SnapshotRepository

BERLIN = "Europe/Berlin"  # has DST: 2025-03-30 has 23 hours, 2025-10-26 has 25
MOSCOW = "Europe/Moscow"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


async def add_reader(db, chat_id: int, created: datetime, *, active=1, paused=0) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO chats (chat_id, kind, language, active, paused, created_at, updated_at)"
            " VALUES (?, 'private', 'ru', ?, ?, ?, ?)",
            (chat_id, active, paused, stamp(created), stamp(created)),
        )


async def add_feed_article(db, feed: str, stored: datetime) -> int:
    async with db.transaction() as conn:
        feed_id = await conn.fetch_value(
            "INSERT INTO feeds (url, name, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (url) DO UPDATE SET name = excluded.name RETURNING feed_id",
            (f"https://{feed}.example/rss", feed, stamp(stored)),
        )
        return await conn.fetch_value(
            "INSERT INTO articles (feed_id, title, title_key, summary, stored_at)"
            " VALUES (?, 't', 't', '', ?) RETURNING article_id",
            (feed_id, stamp(stored)),
        )


async def add_row(db, chat_id: int, article_id: int, status: str, **times) -> int:
    async with db.transaction() as conn:
        return await conn.fetch_value(
            "INSERT INTO outbox (chat_id, article_id, status, created_at, sent_at, failed_at,"
            " last_error, fail_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING outbox_id",
            (
                chat_id,
                article_id,
                status,
                stamp(times.get("created", datetime(2025, 1, 1, tzinfo=UTC))),
                stamp(times["sent"]) if "sent" in times else None,
                stamp(times["failed"]) if "failed" in times else None,
                times.get("error"),
                times.get("reason"),
            ),
        )


def test_day_bounds_follow_the_clock_change():
    zone = ZoneInfo(BERLIN)
    assert day_bounds(date(2025, 3, 30), zone) == (
        "2025-03-29T23:00:00+00:00",
        "2025-03-30T22:00:00+00:00",  # 23 hours
    )
    assert day_bounds(date(2025, 10, 26), zone) == (
        "2025-10-25T22:00:00+00:00",
        "2025-10-26T23:00:00+00:00",  # 25 hours
    )
    assert day_bounds(date(2025, 3, 30), ZoneInfo(MOSCOW)) == (
        "2025-03-29T21:00:00+00:00",
        "2025-03-30T21:00:00+00:00",
    )
    # 00:05 local on the 31st, still the 30th in UTC: the 30th is the day that ended.
    now = datetime(2025, 3, 30, 22, 5, tzinfo=UTC)
    assert last_complete_day(now, zone) == date(2025, 3, 30)


async def test_a_snapshot_counts_totals_and_the_flows_of_its_own_day(db):
    day = date(2025, 3, 30)  # Berlin's 23-hour day
    inside = datetime(2025, 3, 29, 23, 30, tzinfo=UTC)  # 00:30 local on the 30th
    last_minute = datetime(2025, 3, 30, 21, 59, tzinfo=UTC)  # 23:59 local
    before = datetime(2025, 3, 29, 22, 30, tzinfo=UTC)  # 23:30 local on the 29th
    after = datetime(2025, 3, 30, 22, 30, tzinfo=UTC)  # 00:30 local on the 31st
    await add_reader(db, 1, before)
    await add_reader(db, 2, inside, paused=1)
    await add_reader(db, 3, last_minute, active=0)
    await add_reader(db, 4, after)
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO subscriptions (chat_id, kind, value, key, created_at)"
            " VALUES (?, ?, ?, ?, '2025-01-01T00:00:00+00:00')",
            [
                (1, "topic", "china", "china"),
                (2, "topic", "china", "china"),
                (2, "topic", "trade", "trade"),
                (1, "keyword", "Куба", "куба"),
                (3, "source", "niann", "niann"),
            ],
        )
    a = await add_feed_article(db, "niann", inside)
    await add_feed_article(db, "niann", last_minute)
    await add_feed_article(db, "vremyan", inside)
    await add_feed_article(db, "vremyan", after)
    async with db.transaction() as conn:
        await conn.execute("UPDATE feeds SET failures = 2 WHERE name = 'vremyan'")
    await add_row(db, 1, a, "sent", sent=inside)
    await add_row(db, 2, a, "sent", sent=last_minute)
    await add_row(db, 4, a, "sent", sent=after)
    await add_row(db, 3, a, "failed", failed=inside, error="bad", reason="bad_request")
    later = await add_feed_article(db, "niann", after)
    await add_row(db, 1, later, "failed", failed=after, error="later", reason="gave_up")
    outbox = OutboxRepository(db)
    article = await add_feed_article(db, "other", before)
    await add_row(db, 3, article, "pending")
    await outbox.drop_chat(3, "blocked")  # now, not that day: not counted

    snapshots = SnapshotRepository(db)
    start, end = day_bounds(day, ZoneInfo(BERLIN))
    assert await snapshots.take(day, start, end) is True
    (taken,) = await snapshots.all()
    assert taken == Snapshot(
        day=day,
        readers_total=4,
        readers_active=2,
        readers_paused=1,
        readers_blocked=1,
        readers_new=2,  # 2 and 3: 1 came the day before, 4 the day after
        topics={"china": 2, "trade": 1},
        keyword_subscriptions=1,
        source_subscriptions=1,
        sent=2,
        failed={"bad_request": 1},
        articles={"niann": 2, "vremyan": 1},
        failing_feeds=("vremyan",),
    )
    assert taken.failed_total == 1


async def test_failure_reasons_and_failed_at(db):
    await add_reader(db, 1, datetime(2025, 1, 1, tzinfo=UTC))
    await add_reader(db, 2, datetime(2025, 1, 1, tzinfo=UTC))
    article = await add_feed_article(db, "niann", datetime(2025, 1, 1, tzinfo=UTC))
    outbox = OutboxRepository(db, holder="me")
    rows = [await add_row(db, 1, article, "pending")]
    claimed = await outbox.claim(5, datetime(2025, 1, 1, tzinfo=UTC))
    assert [r.outbox_id for r in claimed] == rows
    await outbox.record([Failed(rows[0], "TelegramNetworkError: timeout", "gave_up")])
    await add_row(
        db, 2, await add_feed_article(db, "b", datetime(2025, 1, 1, tzinfo=UTC)), "pending"
    )
    await outbox.drop_chat(2, "Forbidden: bot was blocked by the user")
    now = datetime.now(UTC)
    snapshots = SnapshotRepository(db)
    day = now.date()
    start = stamp(now - timedelta(hours=1))
    end = stamp(now + timedelta(hours=1))
    assert await snapshots.take(day, start, end)
    (taken,) = await snapshots.all()
    assert taken.failed == {"gave_up": 1, "blocked": 1}


async def test_one_snapshot_a_day_idempotent_at_start_up_and_pruned_after_400_days(db):
    snapshots = SnapshotRepository(db)
    old = [Snapshot(day=date(2024, 1, 1) + timedelta(days=n), sent=n) for n in range(3)]
    await snapshots.store(old)
    clock = Clock(datetime(2025, 3, 31, 9, 0, tzinfo=UTC))  # 11:00 in Berlin
    job = SnapshotJob(snapshots, BERLIN, clock=clock)
    assert await job.run_due() is True
    assert await job.run_due() is False  # a restart the same day: nothing new
    second = SnapshotJob(SnapshotRepository(db), BERLIN, clock=clock)  # another copy
    assert await second.run_due() is False
    days = [s.day for s in await snapshots.all()]
    # 2025-03-31 minus 400 days is 2024-02-25: the 2024-01 snapshots are gone.
    assert days == [date(2025, 3, 30)]
    clock.now = datetime(2025, 3, 31, 22, 5, tzinfo=UTC)  # 00:05 local on April 1st
    assert await job.run_due() is True
    assert [s.day for s in await snapshots.all()] == [date(2025, 3, 30), date(2025, 3, 31)]
    assert len(await snapshots.since(date(2025, 3, 31))) == 1


async def test_a_snapshot_of_an_older_bot_reads_missing_parts_as_zero(db):
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO stats_snapshots (day, taken_at, data) VALUES (?, ?, ?)",
            ("2025-01-01", "2025-01-02T00:05:00+00:00", '{"readers": {"total": 5}}'),
        )
    (snapshot,) = await SnapshotRepository(db).all()
    assert snapshot == Snapshot(day=date(2025, 1, 1), readers_total=5)


async def test_a_snapshot_400_days_old_is_kept_and_one_older_is_pruned(db):
    snapshots = SnapshotRepository(db)
    clock = Clock(datetime(2025, 3, 31, 9, 0, tzinfo=UTC))
    today = date(2025, 3, 31)
    edge = [today - timedelta(days=401), today - timedelta(days=400)]
    await snapshots.store([Snapshot(day=day) for day in edge])
    await SnapshotJob(snapshots, BERLIN, clock=clock).run_due()
    assert [s.day for s in await snapshots.all()] == [edge[1], date(2025, 3, 30)]


async def test_stats_shows_exactly_the_last_complete_days(db):
    from bot.stats_report import StatsService
    from storage.stats import StatsRepository

    today = datetime.now(UTC).astimezone(ZoneInfo(MOSCOW)).date()
    snapshots = SnapshotRepository(db)
    await snapshots.store([Snapshot(day=today - timedelta(days=n)) for n in range(1, 32)])
    service = StatsService(StatsRepository(db), snapshots, MOSCOW)
    for days in (30, 7, 1):
        window = [s.day for s in await service.history(days)]
        assert window == [today - timedelta(days=n) for n in range(days, 0, -1)], days


def test_the_job_runs_every_hour_so_a_midnight_that_does_not_exist_costs_nothing():
    """America/Santiago moved its clock at 00:00 on 2024-09-08: 00:05 never happened that
    day. The first run after the jump is 01:05, and it takes the 7th."""
    from bot.app import create_scheduler
    from bot.config import load_settings

    zone = "America/Santiago"
    settings = load_settings(
        {"BOT_TOKEN": "123456789:AAH-fake-token-for-tests-0123456789ab", "TIMEZONE": zone},
    )

    class NoPolls:
        async def poll_due(self) -> None: ...

    job = SnapshotJob(SnapshotRepository(None), zone)  # type: ignore[arg-type]
    scheduler = create_scheduler(settings, NoPolls(), snapshots=job)  # type: ignore[arg-type]
    trigger = scheduler.get_job("stats-snapshot").trigger
    before = datetime(2024, 9, 7, 23, 30, tzinfo=ZoneInfo(zone))
    fired = trigger.get_next_fire_time(None, before)
    assert fired.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == datetime(2024, 9, 8, 1, 5)
    assert last_complete_day(fired, ZoneInfo(zone)) == date(2024, 9, 7)
    assert trigger.get_next_fire_time(fired, fired) - fired == timedelta(hours=1)


async def test_stop_waits_for_a_run_in_progress_and_later_runs_do_nothing(db):
    """Shutdown awaits `stop()` before the database closes: a run it interrupted would
    leave a traceback and no snapshot."""
    import asyncio

    snapshots = SnapshotRepository(db)
    clock = Clock(datetime(2025, 3, 31, 9, 0, tzinfo=UTC))
    job = SnapshotJob(snapshots, BERLIN, clock=clock)
    run = asyncio.create_task(job.run_due())
    await asyncio.sleep(0)  # the run holds the job's lock now
    await job.stop()
    assert run.done() and run.result() is True
    clock.now += timedelta(days=1)
    assert await job.run_due() is False
    assert [s.day for s in await snapshots.all()] == [date(2025, 3, 30)]
