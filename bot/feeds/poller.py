"""The poll job (SPEC 6): fetch due feeds concurrently, parse off the loop, store, fan out.

fetch -> parse -> decide -> store, as lemon24/reader does: the network and the database
are touched here; parsing and classification are pure and run in a worker thread.
One failing feed is recorded with its error and backed off; the others carry on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from bot.feeds.fetch import Fetcher, FetchError, FetchResult
from bot.feeds.parse import ParseError
from bot.feeds.prepare import classify_items, parse_items
from bot.topics.matcher import Matcher, PhraseIndex, keyword_index
from storage.articles import ArticleRepository
from storage.database import STORAGE_ERRORS, StorageSkipped
from storage.feeds import Feed, FeedRepository, Success
from storage.subscriptions import SubscriptionRepository

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BACKOFF = timedelta(hours=6)
DEDUP_WINDOW = timedelta(hours=48)


def backoff(failures: int, interval: timedelta, cap: timedelta = MAX_BACKOFF) -> timedelta:
    """Wait after the `failures`-th consecutive failure: the interval doubled each time."""
    return min(cap, interval * 2 ** max(0, failures - 1))


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass
class PollReport:
    polled: int = 0
    unchanged: int = 0
    failed: int = 0
    new: int = 0
    duplicates: int = 0
    queued: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    storage_error: str | None = None  # the database refused a write in this cycle

    def add(self, other: PollReport) -> None:
        """Fold one cycle's figures into running totals (for /metrics; errors are not kept)."""
        self.polled += other.polled
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.new += other.new
        self.duplicates += other.duplicates
        self.queued += other.queued


class GroupCommit(Generic[T]):
    """Writes that arrive while one is being stored share the next transaction.

    Most polls find a feed unchanged and only record that; one transaction each made a
    cycle of 1,000 feeds cost 1,000 commits. Each writer still returns only once its own
    record is stored, and sees the error if its batch failed."""

    def __init__(self, store: Callable[[list[T]], Awaitable[None]]) -> None:
        self._store = store
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()

    async def write(self, record: T) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((record, done))
        async with self._lock:
            if not done.done():  # nobody took it along: store everything waiting
                batch, self._waiting = self._waiting, []
                try:
                    await self._store([entry for entry, _ in batch])
                except BaseException as error:
                    for _, other in batch:
                        if other is done or other.done():
                            continue
                        if isinstance(error, Exception):
                            other.set_exception(error)
                        else:  # cancelled (shutdown): so are the writes it carried
                            other.cancel()
                    raise
                for _, other in batch:
                    if not other.done():
                        other.set_result(None)
        await done


@dataclass(frozen=True)
class PollSettings:
    interval: timedelta = timedelta(seconds=300)
    max_item_age: timedelta = timedelta(hours=48)
    concurrency: int = 20
    conditional: bool = True  # off only in the benchmark's baseline


class Poller:
    def __init__(
        self,
        feeds: FeedRepository,
        articles: ArticleRepository,
        subscriptions: SubscriptionRepository,
        fetcher: Fetcher,
        matcher: Matcher,
        settings: PollSettings,
        *,
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._feeds = feeds
        self._articles = articles
        self._subscriptions = subscriptions
        self._fetcher = fetcher
        self._matcher = matcher
        self._settings = settings
        self._on_queued = on_queued  # the sender's wake(): rows are waiting
        self._clock = clock
        self._keywords: PhraseIndex[str] = PhraseIndex(matcher.normalizer)
        self._keyword_phrases: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._successes = GroupCommit(feeds.record_successes)
        self._task: asyncio.Task[PollReport] | None = None
        self._stopping = False
        self.last_poll_at: datetime | None = None
        self.totals = PollReport()  # every finished cycle added up, for /metrics

    async def poll_due(self) -> PollReport:
        """One poll cycle over every due feed; never raises for a feed's failure.

        The cycle runs as a task of the poller's own, so `stop()` can cancel it without
        the scheduler seeing its job die."""
        async with self._lock:
            if self._stopping:
                return PollReport()
            self._task = asyncio.create_task(self._cycle())
            try:
                return await self._task
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                log.info("poll cycle cancelled: shutting down")
                return PollReport()
            except STORAGE_ERRORS as error:  # reading the feed list failed: try next time
                log.warning("poll cycle skipped: database error: %s; retried next poll", error)
                return PollReport(storage_error=str(error))
            finally:
                self._task = None

    async def stop(self) -> None:
        """Cancel a cycle in progress and wait for it (its transactions roll back)."""
        self._stopping = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def _cycle(self) -> PollReport:
        now = self._clock()
        await self._refresh_keywords()
        due = await self._feeds.due(stamp(now))
        report = PollReport()
        semaphore = asyncio.Semaphore(self._settings.concurrency)

        async def bounded(feed: Feed) -> None:
            async with semaphore:
                await self._poll_feed(feed, report)

        await asyncio.gather(*(bounded(feed) for feed in due))
        self.last_poll_at = now
        self.totals.add(report)
        log.info(
            "poll: feeds=%d unchanged=%d failed=%d new=%d duplicates=%d queued=%d",
            report.polled,
            report.unchanged,
            report.failed,
            report.new,
            report.duplicates,
            report.queued,
        )
        if report.queued:
            self._on_queued()
        return report

    async def _refresh_keywords(self) -> None:
        """Rebuild the readers' keyword index only when the set of keywords changed."""
        phrases = await self._subscriptions.keyword_phrases()
        if phrases == self._keyword_phrases:
            return
        index = keyword_index(self._matcher.normalizer, phrases)
        self._keywords, self._keyword_phrases = index, phrases

    async def _poll_feed(self, feed: Feed, report: PollReport) -> None:
        """Poll one feed; whatever goes wrong is recorded against this feed alone."""
        report.polled += 1
        try:
            try:
                await self._fetch_and_store(feed, report)
            except (FetchError, ParseError) as error:
                await self._failed(feed, error.reason, report)
            except STORAGE_ERRORS:
                raise
            except Exception as error:  # a bug must cost one feed, not the cycle (STYLE 11)
                log.exception("feed %s: unexpected error", feed.name)
                await self._failed(feed, f"internal error: {type(error).__name__}", report)
        except STORAGE_ERRORS as error:
            # Locked or full: our database failed, not the feed. Nothing of this feed was
            # committed (one transaction) and its validators still describe the last
            # stored body, so the next poll fetches and stores it again. Charging the
            # feed a failure would back a healthy feed off for hours after a long outage.
            report.storage_error = report.storage_error or str(error)
            log.warning(
                "feed %s: not stored, database error: %s; retried next poll", feed.name, error
            )

    async def _fetch_and_store(self, feed: Feed, report: PollReport) -> None:
        conditional = self._settings.conditional
        result = await self._fetcher.fetch(
            feed.url,
            etag=feed.etag if conditional else None,
            last_modified=feed.last_modified if conditional else None,
        )
        self._check_storage(report)
        body_hash = hashlib.sha256(result.body).hexdigest() if result.body else None
        # An empty body is never "unchanged": it must not prime a new feed (SPEC 6.5).
        unchanged_body = body_hash is not None and body_hash == feed.body_hash
        if result.status == 304 or (conditional and unchanged_body):
            await self._succeeded(feed, result, body_hash or feed.body_hash)
            report.unchanged += 1  # counted once recorded: a failed write is not a poll
            log.debug("feed %s: unchanged (HTTP %d), not parsed", feed.name, result.status)
            return
        now = self._clock()
        feed_title, items = await asyncio.to_thread(
            parse_items,
            result.body or b"",
            content_type=result.content_type,
            encoding=feed.encoding,
            base_url=result.url,
        )
        # Only items never stored are classified and offered to the store (SPEC 6 cost:
        # a changed feed usually holds a few new items among many known ones).
        unseen = await self._articles.unseen_keys(feed.feed_id, [key for key, _ in items])
        new_items = [(key, item) for key, item in items if key in unseen]
        candidates = (
            await asyncio.to_thread(
                classify_items,
                new_items,
                matcher=self._matcher,
                keywords=self._keywords,
                now=now,
                max_age=self._settings.max_item_age,
            )
            if new_items
            else []
        )
        stored = await self._articles.store(
            feed.feed_id,
            feed.name.casefold(),
            candidates,
            push=feed.primed,
            now=now,
            dedup_since=now - DEDUP_WINDOW,
        )
        await self._succeeded(feed, result, body_hash, feed_title)
        report.new += stored.new
        report.duplicates += stored.duplicates
        report.queued += stored.queued
        if stored.new:
            log.info(
                "feed %s: %d new (%s), %d duplicates, %d queued",
                feed.name,
                stored.new,
                "pushed" if feed.primed else "first poll, not pushed",
                stored.duplicates,
                stored.queued,
            )

    async def _succeeded(
        self,
        feed: Feed,
        result: FetchResult,
        body_hash: str | None,
        feed_title: str | None = None,
    ) -> None:
        """Returns once the success is stored, in a transaction shared with the feeds that
        finished at the same moment; raises that transaction's error to each of them.
        `feed_title`: the feed's own <title> when this poll parsed it (SPEC 6.0)."""
        success = Success(
            feed.feed_id,
            stamp(self._clock()),
            result.etag,
            result.last_modified,
            body_hash,
            feed_title,
        )
        await self._successes.write(success)

    @staticmethod
    def _check_storage(report: PollReport) -> None:
        """After one write of this cycle failed, the others would each wait out the
        database's busy timeout again, one after another: leave them to the next poll."""
        if report.storage_error is not None:
            raise StorageSkipped(f"skipped after: {report.storage_error}")

    async def _failed(self, feed: Feed, reason: str, report: PollReport) -> None:
        now = self._clock()
        failures = feed.failures + 1
        retry_at = now + backoff(failures, self._settings.interval)
        report.failed += 1
        report.errors[feed.url] = reason
        log.warning(
            "feed %s failed (%d in a row, next try %s): %s",
            feed.name,
            failures,
            stamp(retry_at),
            reason,
        )
        self._check_storage(report)
        await self._feeds.record_failure(
            feed.feed_id, now=stamp(now), error=reason, next_poll_at=stamp(retry_at)
        )
