"""main(): settings -> database -> Bot/Dispatcher -> polling; everything closed in `finally`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import logging
import signal
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiogram.types import BotCommandScopeAllPrivateChats
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import ConfigError, Settings
from bot.delivery.channels import seed_channels
from bot.delivery.pacing import Pacer
from bot.delivery.sender import Sender
from bot.dispatcher import build_dispatcher
from bot.feeds.catalog import FeedSpec, load_feeds_file
from bot.feeds.fetch import Fetcher, create_session
from bot.feeds.poller import Poller, PollSettings
from bot.i18n import LANGUAGES, Catalogue
from bot.middlewares.inflight import InFlightMiddleware
from bot.news import NewsService
from bot.readers import ReaderService
from bot.topics.matcher import Matcher
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from bot.ui.views import bot_commands
from storage.articles import ArticleRepository
from storage.channels import ChannelRepository
from storage.chats import ChatRepository
from storage.database import Database
from storage.feeds import FeedRepository
from storage.outbox import OutboxRepository
from storage.subscriptions import SubscriptionRepository

log = logging.getLogger(__name__)

# Updates in hand, then the message being sent: together inside SPEC 2's 10 s.
SHUTDOWN_GRACE_SECONDS = 4.0
SENDER_GRACE_SECONDS = 3.0


async def open_database(settings: Settings) -> Database:
    try:
        return await Database.open(settings.database_path)
    except (OSError, sqlite3.Error) as error:
        raise ConfigError(
            "DATABASE_PATH", f"cannot open {str(settings.database_path)!r}: {error}"
        ) from None


async def seed_feeds(feeds: FeedRepository, specs: list[FeedSpec]) -> None:
    for spec in specs:
        await feeds.upsert(spec.url, spec.name, spec.encoding)


async def register_commands(bot: Bot, catalogue: Catalogue) -> None:
    """The command menu per language (SPEC 4.9); English is also the default for others."""
    scope = BotCommandScopeAllPrivateChats()
    for language in LANGUAGES:
        commands = bot_commands(catalogue.translator(language))
        await bot.set_my_commands(commands, scope=scope, language_code=language)
        if language == "en":
            await bot.set_my_commands(commands, scope=scope)


def create_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    return Bot(
        settings.bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def poll_until_stopped(dispatcher: Dispatcher, bot: Bot, stop: asyncio.Event) -> None:
    """Long polling until `stop` is set; polling errors (a rejected token) propagate."""
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
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


def create_scheduler(settings: Settings, poller: Poller) -> AsyncIOScheduler:
    """The poll job: first run at once, then every POLL_INTERVAL_SECONDS (SPEC 6.1)."""
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


async def assemble(
    settings: Settings,
    taxonomy: Taxonomy,
    catalogue: Catalogue,
    feed_specs: list[FeedSpec],
    resources: contextlib.AsyncExitStack,
) -> Parts:
    database = await open_database(settings)
    resources.push_async_callback(database.close)
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
    dispatcher, inflight = build_dispatcher(settings, catalogue, readers, news)

    bot = create_bot(settings)
    resources.push_async_callback(bot.session.close)
    sender = Sender(
        bot,
        OutboxRepository(database),
        chats,
        catalogue,
        Pacer(settings.send_rate_per_second),
        alert=functools.partial(alert_admins, bot, settings.admin_ids),
        shutdown_grace=SENDER_GRACE_SECONDS,
    )
    http = create_session()
    resources.push_async_callback(http.close)
    poller = Poller(
        feeds,
        articles,
        subscriptions,
        Fetcher(http),
        Matcher.from_taxonomy(taxonomy, normalizer),
        PollSettings(
            interval=timedelta(seconds=settings.poll_interval_seconds),
            max_item_age=timedelta(hours=settings.max_item_age_hours),
        ),
        on_queued=sender.wake,
    )
    return Parts(bot, dispatcher, inflight, poller, sender, ChannelRepository(database))


async def main(settings: Settings) -> None:
    try:
        taxonomy = load_taxonomy(settings.topics_file)
    except TaxonomyError as error:
        raise ConfigError("TOPICS_FILE", str(error)) from None
    feed_specs = load_feeds_file(settings.feeds_file)
    catalogue = Catalogue.load()
    stop = asyncio.Event()
    _stop_on_signals(stop)

    # Closed in reverse order: scheduler, poller, sender, HTTP, Bot session, database.
    async with contextlib.AsyncExitStack() as resources:
        parts = await assemble(settings, taxonomy, catalogue, feed_specs, resources)
        try:
            await _start_up_calls(parts.bot, catalogue)
            await seed_channels(parts.bot, parts.channels, settings.channel_ids)
            sender_task = asyncio.create_task(parts.sender.run(stop), name="sender")
            resources.push_async_callback(_finish, sender_task, stop)
            scheduler = create_scheduler(settings, parts.poller)
            scheduler.start()
            resources.push_async_callback(parts.poller.stop)
            resources.callback(scheduler.shutdown, wait=False)
            await poll_until_stopped(parts.dispatcher, parts.bot, stop)
            if not await parts.inflight.wait_idle(SHUTDOWN_GRACE_SECONDS):
                log.warning("stopping with updates still being handled")
        except TelegramUnauthorizedError:
            raise ConfigError(
                "BOT_TOKEN",
                "Telegram rejected the token (401 Unauthorized); check it with @BotFather",
            ) from None
    log.info("stopped")


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


async def _start_up_calls(bot: Bot, catalogue: Catalogue) -> None:
    """Token check, command menu, webhook removal; Telegram unreachable now is not fatal."""
    try:
        await bot.me()
        await register_commands(bot, catalogue)
        await bot.delete_webhook(drop_pending_updates=False)
    except TelegramUnauthorizedError:
        raise
    except (TelegramNetworkError, TelegramAPIError) as error:
        log.warning("start-up calls to the Bot API failed (polling will retry): %s", error)
