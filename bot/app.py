"""main(): settings -> database -> Bot/Dispatcher -> polling; everything closed in `finally`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetMe, SetWebhook, TelegramMethod
from aiogram.types import BotCommandScopeAllPrivateChats, LinkPreviewOptions
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry, ProcessCollector

from bot.admin import AdminService
from bot.config import ConfigError, Settings
from bot.delivery.channels import seed_channels
from bot.delivery.pacing import Pacer
from bot.delivery.sender import Sender
from bot.delivery.window import SendWindow
from bot.digest import DigestJob
from bot.dispatcher import build_dispatcher
from bot.editorial import BreakingWatcher, EditorialService
from bot.feeds.catalog import FeedSpec, load_feeds_file
from bot.feeds.fetch import Fetcher, create_session
from bot.feeds.poller import Poller, PollSettings
from bot.i18n import LANGUAGES, Catalogue
from bot.leadership import Leadership, LeadershipLost
from bot.middlewares.inflight import InFlightMiddleware
from bot.news import NewsService
from bot.ops.health import HealthProbe
from bot.ops.metrics import NewsbotCollector
from bot.ops.polling import POLLING_BACKOFF, ConflictReporter
from bot.ops.server import build_app as build_ops_app
from bot.ops.server import build_waiting_app
from bot.ops.server import start_server as start_ops_server
from bot.reader_schedule import ScheduleService
from bot.readers import ReaderService
from bot.snapshots import RUN_AT_MINUTE, SnapshotJob
from bot.stats_report import StatsService
from bot.topic_review import TopicReviewService
from bot.topics.matcher import Matcher
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from bot.ui.staff_views import report_text
from bot.ui.views import bot_commands
from bot.webhook import build_app as build_webhook_app
from bot.webhook import webhook_path
from storage.articles import ArticleRepository
from storage.breaking import BreakingRepository
from storage.channels import ChannelRepository
from storage.chats import ChatRepository
from storage.corrections import CorrectionRepository
from storage.database import STORAGE_ERRORS, Database
from storage.feeds import FeedRepository
from storage.lock import AlreadyRunning, exclusive
from storage.ops import OpsRepository
from storage.outbox import OutboxRepository
from storage.postgres import PostgresDatabase, redact
from storage.roles import RoleRepository
from storage.schedules import ScheduleRepository
from storage.schema import MigrationError
from storage.snapshots import SnapshotRepository
from storage.stats import StatsRepository
from storage.subscriptions import SubscriptionRepository
from storage.updates import UpdateLog

log = logging.getLogger(__name__)

# Updates in hand, then the message being sent: together inside SPEC 2's 10 s.
SHUTDOWN_GRACE_SECONDS = 4.0
SENDER_GRACE_SECONDS = 3.0
LOST_LOCK = "lost the leader lock: restart this copy (it will stand by)"


async def open_database(
    settings: Settings, resources: contextlib.AsyncExitStack, stop: asyncio.Event
) -> Database:
    """The database, closed with `resources`: SQLite once this process holds its file
    lock, PostgreSQL once the server answers (retried with backoff, like Telegram)."""
    if settings.database_url is not None:
        return await _open_postgres(settings, stop)
    try:
        resources.enter_context(exclusive(settings.database_path))
    except AlreadyRunning as error:
        raise ConfigError(
            "DATABASE_PATH",
            f"another newsbot is already running on this database (lock {error}); stop it first",
        ) from None
    except OSError as error:
        raise ConfigError(
            "DATABASE_PATH", f"cannot lock {str(settings.database_path)!r}: {error}"
        ) from None
    try:
        return await Database.open(settings.database_path)
    except (OSError, *STORAGE_ERRORS) as error:
        raise ConfigError(
            "DATABASE_PATH", f"cannot open {str(settings.database_path)!r}: {error}"
        ) from None
    except MigrationError as error:
        raise ConfigError("DATABASE_PATH", str(error)) from None


async def _open_postgres(settings: Settings, stop: asyncio.Event) -> Database:
    """Connect, retrying 1 s doubling to 30 s while the server is down or starting; a
    refused login or a missing database is a settings error. `/healthz` answers 503
    meanwhile (when METRICS_PORT is set); SIGTERM stops the waiting."""
    url = settings.database_url
    assert url is not None
    shown = redact(url)
    waiting = None
    if settings.metrics_port is not None:
        with contextlib.suppress(OSError):  # the port is checked again for the real server
            waiting = await start_ops_server(
                build_waiting_app(), settings.web_host, settings.metrics_port
            )
    delay = 1.0
    try:
        while True:
            try:
                return await Database.open(url)
            except (
                asyncpg.InvalidAuthorizationSpecificationError,
                asyncpg.InvalidCatalogNameError,
            ) as error:
                raise ConfigError("DATABASE_URL", f"{shown}: {error}") from None
            except MigrationError as error:
                raise ConfigError("DATABASE_URL", str(error)) from None
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning(
                    "database %s unreachable (%s); retrying in %.0f s",
                    shown,
                    type(error).__name__,
                    delay,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                raise DatabaseWaitStopped
            delay = min(delay * 2, 30.0)
    finally:
        if waiting is not None:
            await waiting.cleanup()


class DatabaseWaitStopped(Exception):
    """SIGTERM came while the database was still unreachable at start-up."""


async def seed_feeds(feeds: FeedRepository, specs: list[FeedSpec]) -> None:
    for spec in specs:
        await feeds.upsert(spec.url, spec.name, spec.encoding, title=spec.title)


async def register_commands(bot: Bot, catalogue: Catalogue) -> None:
    """The command menu per language (SPEC 4.9); English is also the default for others."""
    scope = BotCommandScopeAllPrivateChats()
    for language in LANGUAGES:
        commands = bot_commands(catalogue.translator(language))
        await bot.set_my_commands(commands, scope=scope, language_code=language)
        if language == "en":
            await bot.set_my_commands(commands, scope=scope)


def bot_defaults() -> DefaultBotProperties:
    """HTML, and no link previews unless a message asks for one. Set as `link_preview`,
    not `link_preview_is_disabled`: the latter also fills the deprecated
    `disable_web_page_preview` of every request, which Bot API 10 no longer lists."""
    return DefaultBotProperties(
        parse_mode=ParseMode.HTML, link_preview=LinkPreviewOptions(is_disabled=True)
    )


def create_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    session.middleware(ConflictReporter())  # a 409 from getUpdates, said plainly (SPEC 8b)
    return Bot(settings.bot_token, session=session, default=bot_defaults())


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def poll_until_stopped(dispatcher: Dispatcher, bot: Bot, stop: asyncio.Event) -> None:
    """Long polling until `stop` is set; polling errors (a rejected token) propagate."""
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot, handle_signals=False, close_bot_session=False, backoff_config=POLLING_BACKOFF
        )
    )
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not polling.done():
            log.info("stopping: signal received")
            try:
                await dispatcher.stop_polling()
            except RuntimeError:  # the signal came before polling had started
                polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
    finally:
        stopping.cancel()


async def start_webhook_server(
    settings: Settings, dispatcher: Dispatcher, bot: Bot, handled: UpdateLog
) -> Callable[[], Awaitable[None]]:
    """Webhook mode (SPEC 3): listen on WEB_HOST:WEB_PORT. Every copy does, standbys too
    (SPEC 8c): handlers need only the database. Returns the function that stops
    listening, lets the updates in hand finish, and does nothing the second time."""
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    app = build_webhook_app(
        dispatcher, bot, settings.webhook_url, settings.webhook_secret, handled
    )
    try:
        runner = await start_ops_server(
            app, settings.web_host, settings.web_port, shutdown_timeout=SHUTDOWN_GRACE_SECONDS
        )
    except OSError as error:
        where = f"{settings.web_host}:{settings.web_port}"
        raise ConfigError("WEB_PORT", f"cannot listen on {where}: {error.strerror}") from None
    log.info(
        "webhook mode: serving %s on %s:%d",
        webhook_path(settings.webhook_url),
        settings.web_host,
        settings.web_port,
    )
    closed = False

    async def close() -> None:
        nonlocal closed
        if not closed:
            closed = True
            await runner.cleanup()

    return close


async def serve_webhook_until_stopped(
    settings: Settings,
    dispatcher: Dispatcher,
    bot: Bot,
    stop: asyncio.Event,
    close: Callable[[], Awaitable[None]],
) -> None:
    """Tell Telegram where we are, then serve until `stop`; then stop listening and let
    the updates in hand finish. The webhook stays registered, so Telegram keeps new
    updates until a copy is back."""
    try:
        registered = register_webhook(bot, settings, dispatcher.resolve_used_update_types())
        if await until_stopped(registered, stop):
            log.info("webhook mode: Telegram posts updates to %s", settings.webhook_url)
            await stop.wait()
        log.info("stopping: signal received")
    finally:
        await close()


async def register_webhook(bot: Bot, settings: Settings, allowed_updates: list[str]) -> None:
    """setWebhook with the secret, retried while Telegram is unreachable; a URL Telegram
    refuses (not https, a port it does not allow) is a bad setting."""
    assert settings.webhook_url is not None
    method = SetWebhook(
        url=settings.webhook_url,
        secret_token=settings.webhook_secret,
        allowed_updates=allowed_updates,
        drop_pending_updates=False,
    )
    try:
        fatal = (TelegramUnauthorizedError, TelegramBadRequest)
        await retry_until_answered(bot, method, "setWebhook failed", fatal)
    except TelegramBadRequest as error:
        raise ConfigError("WEBHOOK_URL", f"Telegram refused the webhook: {error.message}") from None


async def retry_until_answered(
    bot: Bot,
    method: TelegramMethod[Any],
    what: str,
    fatal: tuple[type[TelegramAPIError], ...] = (TelegramUnauthorizedError,),
) -> None:
    """Call the Bot API until it answers, backing off 1 s doubling to 60 s while Telegram
    is unreachable or failing; a rejected token (or another `fatal` error) is raised."""
    delay = 1.0
    while True:
        try:
            await bot(method)
            return
        except fatal:
            raise
        except (TelegramNetworkError, TelegramAPIError) as error:
            log.warning("%s (%s); retrying in %.0f s", what, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)


def create_scheduler(
    settings: Settings,
    poller: Poller,
    digests: DigestJob | None = None,
    snapshots: SnapshotJob | None = None,
) -> AsyncIOScheduler:
    """The poll job: first run at once, then every POLL_INTERVAL_SECONDS (SPEC 6.1).

    The digest job (SPEC 4.11): once at start-up (a digest due while the bot was down
    goes now, once), then at the start of every minute, so a digest set for 08:00 is
    queued at 08:00:00 rather than up to a minute late.

    The stats snapshot (SPEC 8.5): at start-up, then five minutes past every hour in
    TIMEZONE; each run takes the day before if it is missing. Hourly, not once at 00:05:
    where the clock changes at midnight 00:05 does not exist that day (APScheduler skips
    it), and a run that failed is tried again within the hour."""
    scheduler = AsyncIOScheduler(timezone=settings.timezone)
    scheduler.add_job(
        poller.poll_due,
        "interval",
        seconds=settings.poll_interval_seconds,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        id="poll-feeds",
    )
    if digests is not None:
        scheduler.add_job(
            digests.run_due,
            "cron",
            second=0,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            id="send-digests",
        )
    if snapshots is not None:
        scheduler.add_job(
            snapshots.run_due,
            "cron",
            minute=RUN_AT_MINUTE,
            timezone=settings.timezone,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            id="stats-snapshot",
        )
    return scheduler


@dataclass(frozen=True)
class Parts:
    """What `main()` runs, built by `assemble()` (separate so that the order of the
    shutdown callbacks reads in one place)."""

    bot: Bot
    dispatcher: Dispatcher
    inflight: InFlightMiddleware
    poller: Poller
    sender: Sender
    channels: ChannelRepository
    watcher: BreakingWatcher | None = None  # editors' fan-out reports (SPEC 8.2)
    digests: DigestJob | None = None  # readers' daily digests (SPEC 4.11)
    snapshots: SnapshotJob | None = None  # the daily stats snapshot (SPEC 8.5)
    database: Database | None = None  # for /healthz and /metrics (SPEC 8b)
    leadership: Leadership | None = None  # PostgreSQL: which copy runs the jobs (SPEC 8c)


async def assemble(
    settings: Settings,
    taxonomy: Taxonomy,
    catalogue: Catalogue,
    feed_specs: list[FeedSpec],
    resources: contextlib.AsyncExitStack,
    stop: asyncio.Event,
) -> Parts:
    database = await open_database(settings, resources, stop)
    resources.push_async_callback(database.close)
    leadership = Leadership(database) if isinstance(database, PostgresDatabase) else None
    feeds = FeedRepository(database)
    await seed_feeds(feeds, feed_specs)
    normalizer = Normalizer()
    subscriptions = SubscriptionRepository(database)
    chats = ChatRepository(database)
    readers = ReaderService(
        chats, subscriptions, feeds, taxonomy, keyword_key=normalizer.phrase_key
    )
    articles = ArticleRepository(database)
    news = NewsService(articles, readers, normalizer)

    bot = create_bot(settings)
    resources.push_async_callback(bot.session.close)
    # Shared with /correct and /recall: one rate, one window of requests in flight.
    pacer = Pacer(settings.send_rate_per_second)
    window = SendWindow(settings.send_rate_per_second)
    sender = Sender(
        bot,
        OutboxRepository(database, settings.timezone),
        chats,
        catalogue,
        pacer,
        window=window,
        alert=functools.partial(alert_admins, bot, settings.admin_ids),
        shutdown_grace=SENDER_GRACE_SECONDS,
        may_claim=(lambda: not leadership.fenced) if leadership is not None else lambda: True,
        hashtag=taxonomy.hashtag,
    )
    http = create_session()
    resources.push_async_callback(http.close)
    matcher = Matcher.from_taxonomy(taxonomy, normalizer)
    poller = Poller(
        feeds,
        articles,
        subscriptions,
        Fetcher(http),
        matcher,
        PollSettings(
            interval=timedelta(seconds=settings.poll_interval_seconds),
            max_item_age=timedelta(hours=settings.max_item_age_hours),
        ),
        on_queued=sender.wake,
    )
    breaking = BreakingRepository(database)
    roles = RoleRepository(database)
    editorial = EditorialService(
        breaking,
        roles,
        settings.admin_ids,
        taxonomy.hashtag_topic,
        bot,
        pacer,
        catalogue,
        window=window,
        wake=sender.wake,
        hashtag=taxonomy.hashtag,
    )
    admin = AdminService(
        roles,
        feeds,
        articles,
        ChannelRepository(database),
        OutboxRepository(database),
        taxonomy,
        Fetcher(http),
    )
    watcher = BreakingWatcher(
        breaking, chats, functools.partial(report_text, catalogue), wake=sender.wake
    )
    schedule_store = ScheduleRepository(database)
    digests = DigestJob(
        schedule_store, catalogue, taxonomy, settings.timezone, on_queued=sender.wake
    )
    schedules = ScheduleService(schedule_store, digests, settings.timezone, on_queued=sender.wake)
    dispatcher, inflight = build_dispatcher(
        settings,
        catalogue,
        readers,
        news,
        editorial=editorial,
        admin=admin,
        statistics=StatsService(
            StatsRepository(database), SnapshotRepository(database), settings.timezone
        ),
        schedules=schedules,
        review=TopicReviewService(
            CorrectionRepository(database), subscriptions, matcher, taxonomy
        ),
    )
    return Parts(
        bot,
        dispatcher,
        inflight,
        poller,
        sender,
        ChannelRepository(database),
        watcher=watcher,
        digests=digests,
        snapshots=SnapshotJob(SnapshotRepository(database), settings.timezone),
        database=database,
        leadership=leadership,
    )


async def main(settings: Settings) -> None:
    try:
        taxonomy = load_taxonomy(settings.topics_file)
    except TaxonomyError as error:
        raise ConfigError("TOPICS_FILE", str(error)) from None
    feed_specs = load_feeds_file(settings.feeds_file)
    catalogue = Catalogue.load()
    stop = asyncio.Event()
    _stop_on_signals(stop)

    # Closed in reverse order: scheduler, poller, sender, ops server, HTTP, Bot session,
    # database.
    async with contextlib.AsyncExitStack() as resources:
        try:
            parts = await assemble(settings, taxonomy, catalogue, feed_specs, resources, stop)
        except DatabaseWaitStopped:
            log.info("stopped while waiting for the database")
            return
        probe = None
        if settings.metrics_port is not None:
            probe = await serve_operations(settings, parts, CollectorRegistry(), resources)
        close_webhook = None
        if settings.webhook_url is not None:
            close_webhook = await start_webhook_server(
                settings, parts.dispatcher, parts.bot, UpdateLog(parts.database)
            )
            resources.push_async_callback(close_webhook)
        if parts.leadership is not None:
            if not await parts.leadership.wait_until_leader(stop):
                log.info("stopped")
                return
            watch = asyncio.create_task(parts.leadership.watch(stop), name="leader-lock")
            resources.push_async_callback(_finish, watch, stop)
        try:
            started = _start_up_calls(parts.bot, catalogue, settings, parts.channels, stop)
            if not await until_stopped(started, stop):
                if parts.leadership is not None and parts.leadership.fenced:
                    raise LeadershipLost(LOST_LOCK)
                return
            sender_task = asyncio.create_task(parts.sender.run(stop), name="sender")
            resources.push_async_callback(_finish, sender_task, stop)
            if probe is not None:
                probe.sender_task = sender_task
            if parts.watcher is not None:
                watcher_task = asyncio.create_task(parts.watcher.run(stop), name="reports")
                resources.push_async_callback(_finish, watcher_task, stop)
            scheduler = create_scheduler(settings, parts.poller, parts.digests, parts.snapshots)
            scheduler.start()
            if probe is not None:
                probe.scheduler = scheduler
            resources.callback(scheduler.shutdown, wait=False)
            # The jobs' own stops run before the scheduler's shutdown (callbacks run last
            # first), which cancels the jobs still running: a digest or snapshot under
            # way is let finish; a poll cycle is cancelled by its own stop and awaited.
            resources.push_async_callback(parts.poller.stop)
            for job in (parts.digests, parts.snapshots):
                if job is not None:
                    resources.push_async_callback(job.stop)
            if settings.webhook_url is None:
                await poll_until_stopped(parts.dispatcher, parts.bot, stop)
            else:
                assert close_webhook is not None
                await serve_webhook_until_stopped(
                    settings, parts.dispatcher, parts.bot, stop, close_webhook
                )
            if not await parts.inflight.wait_idle(SHUTDOWN_GRACE_SECONDS):
                log.warning("stopping with updates still being handled")
        except TelegramUnauthorizedError:
            raise ConfigError(
                "BOT_TOKEN",
                "Telegram rejected the token (401 Unauthorized); check it with @BotFather",
            ) from None
    if parts.leadership is not None and parts.leadership.fenced:
        raise LeadershipLost(LOST_LOCK)
    log.info("stopped")


async def serve_operations(
    settings: Settings,
    parts: Parts,
    registry: CollectorRegistry,
    resources: contextlib.AsyncExitStack,
) -> HealthProbe:
    """`/healthz` and `/metrics` on WEB_HOST:METRICS_PORT (SPEC 8b), from start-up on
    (unhealthy until the scheduler and the sender run); the server is closed with
    `resources`. The probe is returned for `main()` to hand it the scheduler and sender."""
    assert parts.database is not None and settings.metrics_port is not None
    ops = OpsRepository(parts.database)
    poller = parts.poller
    leadership = parts.leadership
    probe = HealthProbe(
        ops,
        last_poll_at=lambda: poller.last_poll_at,
        poll_interval=timedelta(seconds=settings.poll_interval_seconds),
        role=(lambda: leadership.role) if leadership is not None else lambda: "leader",
    )
    collector = NewsbotCollector(
        ops,
        parts.sender.stats,
        poller.totals,
        last_poll_at=lambda: poller.last_poll_at,
        leadership=leadership,
    )
    registry.register(collector)
    ProcessCollector(registry=registry)
    app = build_ops_app(probe, registry, collector)
    try:
        runner = await start_ops_server(app, settings.web_host, settings.metrics_port)
    except OSError as error:
        raise ConfigError(
            "METRICS_PORT",
            f"cannot listen on {settings.web_host}:{settings.metrics_port}: {error.strerror}",
        ) from None
    resources.push_async_callback(runner.cleanup)
    log.info("serving /healthz and /metrics on %s:%d", settings.web_host, settings.metrics_port)
    return probe


async def _finish(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Stop a background task that watches `stop`, and surface its failure in the log."""
    stop.set()
    try:
        await task
    except Exception:
        log.exception("%s failed", task.get_name())


async def alert_admins(bot: Bot, admin_ids: frozenset[int], text: str) -> None:
    """A RetryAfter over 10 minutes (SPEC 8b): tell every admin, best effort."""
    for admin_id in admin_ids:
        with contextlib.suppress(TelegramAPIError, TelegramNetworkError):
            await bot.send_message(admin_id, "⚠️ " + html.escape(text))


async def until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `work` unless `stop` comes first (then cancel it): SIGTERM during start-up must
    not wait for Telegram. True when the work finished."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    task.result()
    return True


async def _start_up_calls(
    bot: Bot,
    catalogue: Catalogue,
    settings: Settings,
    channels: ChannelRepository,
    stop: asyncio.Event,
) -> None:
    """Check the token (waiting for Telegram to be reachable), then the command menu,
    webhook removal and CHANNEL_IDS; failures after the token check are not fatal."""
    await retry_until_answered(bot, GetMe(), "Telegram unreachable at start-up")
    try:
        await register_commands(bot, catalogue)
        if settings.webhook_url is None:  # a webhook left set would make polling fail (409)
            await bot.delete_webhook(drop_pending_updates=False)
    except TelegramUnauthorizedError:
        raise
    except (TelegramNetworkError, TelegramAPIError) as error:
        log.warning("start-up calls to the Bot API failed (polling will retry): %s", error)
    await seed_channels(bot, channels, settings.channel_ids)
