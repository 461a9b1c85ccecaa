"""Prometheus figures (SPEC 8b), gathered at scrape time from what the bot already keeps.

Nothing is counted twice: the sender's `SenderStats`, the poller's running totals and the
database are read when Prometheus scrapes, so no metric objects are threaded through the
code. The database part is async while prometheus-client collects synchronously, so the
`/metrics` handler awaits `refresh()` first and `collect()` reports that snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from bot.delivery.sender import SenderStats
from bot.feeds.poller import PollReport
from bot.leadership import Leadership
from storage.ops import OpsFigures, OpsRepository


class NewsbotCollector(Collector):
    def __init__(
        self,
        ops: OpsRepository,
        sender_stats: SenderStats,
        poll_totals: PollReport,
        last_poll_at: Callable[[], datetime | None],
        leadership: Leadership | None = None,
    ) -> None:
        self._ops = ops
        self._leadership = leadership  # None: SQLite, one copy, always the leader
        self._sender = sender_stats
        self._polls = poll_totals
        self._last_poll_at = last_poll_at
        self._figures: OpsFigures | None = None

    async def refresh(self) -> None:
        """Read the database figures for the next `collect()`."""
        self._figures = await self._ops.figures()

    def describe(self) -> list[Metric]:
        return []  # figures appear at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        yield from self._leader_metrics()
        yield from self._poll_metrics()
        yield from self._sender_metrics()
        if self._figures is not None:
            yield from self._database_metrics(self._figures)

    def _leader_metrics(self) -> Iterator[Metric]:
        leadership = self._leadership
        leader = leadership is None or leadership.is_leader
        yield GaugeMetricFamily(
            "newsbot_leader", "1 when this copy runs the jobs (the leader)", value=int(leader)
        )
        yield CounterMetricFamily(
            "newsbot_leader_changes",
            "Times this copy became the leader since start-up",
            value=0 if leadership is None else leadership.changes,
        )

    def _poll_metrics(self) -> Iterator[Metric]:
        polls = self._polls
        yield CounterMetricFamily(
            "newsbot_feed_polls", "Feed fetches since start-up", value=polls.polled
        )
        yield CounterMetricFamily(
            "newsbot_feed_poll_failures",
            "Feed fetches that failed (timeout, HTTP error, bad XML, over the cap)",
            value=polls.failed,
        )
        yield CounterMetricFamily(
            "newsbot_articles_new", "New articles stored since start-up", value=polls.new
        )
        last = self._last_poll_at()
        yield GaugeMetricFamily(
            "newsbot_last_poll_timestamp_seconds",
            "When the last poll cycle finished (Unix time; 0 before the first)",
            value=last.timestamp() if last else 0.0,
        )

    def _sender_metrics(self) -> Iterator[Metric]:
        stats = self._sender
        yield CounterMetricFamily(
            "newsbot_messages_sent", "Messages Telegram accepted", value=stats.sent
        )
        failed = CounterMetricFamily(
            "newsbot_messages_failed",
            "Messages given up on, by reason (dropped: the chat blocked the bot or vanished)",
            labels=["reason"],
        )
        for reason, count in sorted(stats.failed.items()):
            failed.add_metric([reason], count)
        failed.add_metric(["dropped"], stats.dropped)
        yield failed
        yield CounterMetricFamily(
            "newsbot_messages_retried",
            "Sends put back after a network error or 5xx",
            value=stats.retried,
        )
        yield CounterMetricFamily(
            "newsbot_rate_limited",
            "429 RetryAfter answers (all sending paused)",
            value=stats.pauses,
        )
        fallbacks = CounterMetricFamily(
            "newsbot_send_fallbacks",
            "Posts sent in a simpler form after Telegram refused the first: plain text for"
            " refused HTML, the text post for a refused picture",
            labels=["kind"],
        )
        fallbacks.add_metric(["plain_text"], stats.plain_fallbacks)
        fallbacks.add_metric(["photo"], stats.photo_fallbacks)
        yield fallbacks
        yield CounterMetricFamily(
            "newsbot_chats_deactivated",
            "Chats that blocked the bot, vanished or lost rights",
            value=stats.deactivated,
        )
        yield SummaryMetricFamily(
            "newsbot_send_latency_seconds",
            "Time of successful sendMessage calls",
            count_value=stats.sent,
            sum_value=stats.send_seconds,
        )

    def _database_metrics(self, figures: OpsFigures) -> Iterator[Metric]:
        feeds = GaugeMetricFamily(
            "newsbot_feeds", "Feeds by the outcome of their last poll", labels=["state"]
        )
        feeds.add_metric(["ok"], figures.feeds_ok)
        feeds.add_metric(["failing"], figures.feeds_failing)
        yield feeds
        yield GaugeMetricFamily(
            "newsbot_articles_stored", "Articles in the database", value=figures.articles_stored
        )
        yield GaugeMetricFamily(
            "newsbot_outbox_depth",
            "Messages waiting to be sent (pending or in flight)",
            value=figures.outbox["pending"] + figures.outbox["sending"],
        )
        rows = GaugeMetricFamily("newsbot_outbox_rows", "Outbox rows by status", labels=["status"])
        for status, count in figures.outbox.items():
            rows.add_metric([status], count)
        yield rows
