"""main(): settings -> database -> Bot/Dispatcher -> polling; everything closed in `finally`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
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
from bot.dispatcher import build_dispatcher
from bot.feeds.catalog import FeedSpec, load_feeds_file
from bot.feeds.fetch import Fetcher, create_session
from bot.feeds.poller import Poller, PollSettings
from bot.i18n import LANGUAGES, Catalogue
from bot.news import NewsService
from bot.readers import ReaderService
from bot.topics.matcher import Matcher
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import TaxonomyError, load_taxonomy
from bot.ui.views import bot_commands
from storage.articles import ArticleRepository
from storage.chats import ChatRepository
from storage.database import Database
from storage.feeds import FeedRepository
from storage.subscriptions import SubscriptionRepository

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5.0


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


async def main(settings: Settings) -> None:
    try:
        taxonomy = load_taxonomy(settings.topics_file)
    except TaxonomyError as error:
        raise ConfigError("TOPICS_FILE", str(error)) from None
    feed_specs = load_feeds_file(settings.feeds_file)
    catalogue = Catalogue.load()
    stop = asyncio.Event()
    _stop_on_signals(stop)

    async with contextlib.AsyncExitStack() as resources:
        database = await open_database(settings)
        resources.push_async_callback(database.close)
        feeds = FeedRepository(database)
        await seed_feeds(feeds, feed_specs)
        normalizer = Normalizer()
        subscriptions = SubscriptionRepository(database)
        readers = ReaderService(
            ChatRepository(database),
            subscriptions,
            feeds,
            taxonomy,
            keyword_key=normalizer.phrase_key,
        )
        matcher = Matcher.from_taxonomy(taxonomy, normalizer)
        articles = ArticleRepository(database)
        news = NewsService(articles, readers, normalizer)
        http = create_session()
        resources.push_async_callback(http.close)
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
        )
        dispatcher, inflight = build_dispatcher(settings, catalogue, readers, news)
        bot = create_bot(settings)
        resources.push_async_callback(bot.session.close)
        try:
            await _start_up_calls(bot, catalogue)
            scheduler = create_scheduler(settings, poller)
            scheduler.start()
            resources.push_async_callback(poller.stop)
            resources.callback(scheduler.shutdown, wait=False)
            await poll_until_stopped(dispatcher, bot, stop)
            if not await inflight.wait_idle(SHUTDOWN_GRACE_SECONDS):
                log.warning("stopping with updates still being handled")
        except TelegramUnauthorizedError:
            raise ConfigError(
                "BOT_TOKEN",
                "Telegram rejected the token (401 Unauthorized); check it with @BotFather",
            ) from None
    log.info("stopped")


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
