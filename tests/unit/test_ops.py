"""/metrics' collector and /healthz' probe (SPEC 8b), on a real database file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest

from bot.delivery.sender import SenderStats
from bot.feeds.poller import PollReport
from bot.ops.health import HealthProbe
from bot.ops.metrics import NewsbotCollector
from storage.database import Database
from storage.feeds import FeedRepository
from storage.ops import OpsRepository

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_collector_reads_sender_poller_and_database_at_scrape_time(db):
    feeds = FeedRepository(db)
    ok = await feeds.upsert("https://a.example/rss", "a", None)
    bad = await feeds.upsert("https://b.example/rss", "b", None)
    await feeds.record_success(
        ok.feed_id, now="2025-03-01T12:00:00+00:00", etag=None, last_modified=None, body_hash=None
    )
    await feeds.record_failure(
        bad.feed_id,
        now="2025-03-01T12:00:00+00:00",
        error="HTTP 500",
        next_poll_at="2025-03-01T12:05:00+00:00",
    )
    stats = SenderStats(
        sent=3, send_seconds=0.6, dropped=2, pauses=1, plain_fallbacks=2, photo_fallbacks=5
    )
    stats.failed["bad_request"] += 1
    totals = PollReport()
    totals.add(PollReport(polled=2, failed=1, new=4))
    totals.add(PollReport(polled=2, unchanged=1, new=1))
    collector = NewsbotCollector(OpsRepository(db), stats, totals, last_poll_at=lambda: NOW)
    registry = CollectorRegistry()
    registry.register(collector)

    await collector.refresh()
    assert sample(registry, "newsbot_feed_polls_total") == 4
    assert sample(registry, "newsbot_feed_poll_failures_total") == 1
    assert sample(registry, "newsbot_articles_new_total") == 5
    assert sample(registry, "newsbot_feeds", state="ok") == 1
    assert sample(registry, "newsbot_feeds", state="failing") == 1
    assert sample(registry, "newsbot_articles_stored") == 0
    assert sample(registry, "newsbot_outbox_depth") == 0
    assert sample(registry, "newsbot_outbox_rows", status="failed") == 0
    assert sample(registry, "newsbot_messages_sent_total") == 3
    assert sample(registry, "newsbot_messages_failed_total", reason="bad_request") == 1
    assert sample(registry, "newsbot_messages_failed_total", reason="dropped") == 2
    assert sample(registry, "newsbot_rate_limited_total") == 1
    assert sample(registry, "newsbot_send_fallbacks_total", kind="plain_text") == 2
    assert sample(registry, "newsbot_send_fallbacks_total", kind="photo") == 5
    assert sample(registry, "newsbot_send_latency_seconds_count") == 3
    assert sample(registry, "newsbot_send_latency_seconds_sum") == 0.6
    assert sample(registry, "newsbot_last_poll_timestamp_seconds") == NOW.timestamp()

    stats.sent += 1  # read live: no counter is copied at registration
    assert sample(registry, "newsbot_messages_sent_total") == 4
    assert b"# TYPE newsbot_send_latency_seconds summary" in generate_latest(registry)


async def test_collector_before_the_first_refresh_reports_process_figures_only(db):
    collector = NewsbotCollector(
        OpsRepository(db), SenderStats(), PollReport(), last_poll_at=lambda: None
    )
    registry = CollectorRegistry()
    registry.register(collector)
    assert sample(registry, "newsbot_last_poll_timestamp_seconds") == 0
    assert sample(registry, "newsbot_outbox_depth") is None


class FakeScheduler:
    running = True


async def test_probe_healthy_only_when_everything_runs(db):
    clock = [NOW]
    probe = HealthProbe(
        OpsRepository(db),
        last_poll_at=lambda: NOW,
        poll_interval=timedelta(seconds=300),
        clock=lambda: clock[0],
        started_at=NOW,
    )
    healthy, body = await probe.check()
    assert not healthy and body["scheduler"] is False and body["sender"] is False

    stop = asyncio.Event()
    probe.scheduler = FakeScheduler()  # type: ignore[assignment]
    probe.sender_task = asyncio.create_task(stop.wait())
    healthy, body = await probe.check()
    assert healthy, body
    assert body == {
        "status": "ok",
        "role": "leader",
        "database": True,
        "scheduler": True,
        "sender": True,
        "last_poll_at": "2025-03-01T12:00:00+00:00",
        "poll_overdue": False,
    }

    clock[0] = NOW + timedelta(minutes=16)  # three intervals of 5 min, and a bit
    healthy, body = await probe.check()
    assert not healthy and body["poll_overdue"] is True
    clock[0] = NOW

    stop.set()
    await probe.sender_task
    healthy, body = await probe.check()
    assert not healthy and body["sender"] is False


async def test_probe_reports_a_closed_database(tmp_path):
    database = await Database.open(tmp_path / "bot.sqlite3")
    await database.close()
    probe = HealthProbe(
        OpsRepository(database), last_poll_at=lambda: None, poll_interval=timedelta(seconds=60)
    )
    healthy, body = await probe.check()
    assert not healthy and body["database"] is False


async def test_a_standby_is_healthy_when_its_database_answers(db):
    """A standby replica runs no scheduler, sender or poll: only its database counts."""
    role = ["standby"]
    probe = HealthProbe(
        OpsRepository(db),
        last_poll_at=lambda: None,
        poll_interval=timedelta(seconds=60),
        role=lambda: role[0],
    )
    healthy, body = await probe.check()
    assert healthy and body["role"] == "standby" and body["sender"] is False
    role[0] = "leader"  # became the leader: now its jobs must run
    healthy, body = await probe.check()
    assert not healthy and body["role"] == "leader"
