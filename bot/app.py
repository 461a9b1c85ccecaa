"""main(): settings -> database -> Bot/Dispatcher -> polling; everything closed in `finally`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiogram.types import BotCommandScopeAllPrivateChats

from bot.config import ConfigError, Settings
from bot.dispatcher import build_dispatcher
from bot.feeds.catalog import FeedSpec, load_feeds_file
from bot.i18n import LANGUAGES, Catalogue
from bot.readers import ReaderService
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import TaxonomyError, load_taxonomy
from bot.ui.views import bot_commands
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


async def main(settings: Settings) -> None:
    try:
        taxonomy = load_taxonomy(settings.topics_file)
    except TaxonomyError as error:
        raise ConfigError("TOPICS_FILE", str(error)) from None
    feed_specs = load_feeds_file(settings.feeds_file)
    catalogue = Catalogue.load()
    stop = asyncio.Event()
    _stop_on_signals(stop)

    database = await open_database(settings)
    try:
        feeds = FeedRepository(database)
        await seed_feeds(feeds, feed_specs)
        normalizer = Normalizer()
        readers = ReaderService(
            ChatRepository(database),
            SubscriptionRepository(database),
            feeds,
            taxonomy,
            keyword_key=normalizer.phrase_key,
        )
        dispatcher, inflight = build_dispatcher(settings, catalogue, readers)
        bot = create_bot(settings)
        try:
            try:
                await register_commands(bot, catalogue)
                await bot.delete_webhook(drop_pending_updates=False)
            except TelegramUnauthorizedError:
                raise
            except (TelegramNetworkError, TelegramAPIError) as error:
                # Telegram being unreachable at start-up is not fatal: polling retries.
                log.warning("start-up calls to the Bot API failed: %s", error)
            await poll_until_stopped(dispatcher, bot, stop)
            if not await inflight.wait_idle(SHUTDOWN_GRACE_SECONDS):
                log.warning("stopping with updates still being handled")
        except TelegramUnauthorizedError:
            raise ConfigError(
                "BOT_TOKEN",
                "Telegram rejected the token (401 Unauthorized); check it with @BotFather",
            ) from None
        finally:
            await bot.session.close()
    finally:
        await database.close()
    log.info("stopped")
