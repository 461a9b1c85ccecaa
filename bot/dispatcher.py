"""Assembles the aiogram Dispatcher: routers, middlewares, and the services handlers receive."""

from __future__ import annotations

from aiogram import Dispatcher

from bot.config import Settings
from bot.i18n import Catalogue
from bot.middlewares.inflight import InFlightMiddleware
from bot.middlewares.reader import ReaderMiddleware
from bot.middlewares.throttling import ThrottlingMiddleware
from bot.news import NewsService
from bot.readers import ReaderService
from handlers import build_router


def build_dispatcher(
    settings: Settings,
    catalogue: Catalogue,
    readers: ReaderService,
    news: NewsService,
    **services: object,
) -> tuple[Dispatcher, InFlightMiddleware]:
    """Everything a handler may ask for by parameter name is passed here (STYLE 3);
    `services` are the other features' (editorial, admin, stats...), by name."""
    dispatcher = Dispatcher(
        settings=settings,
        catalogue=catalogue,
        readers=readers,
        news=news,
        timezone=settings.timezone,
        **services,
    )
    inflight = InFlightMiddleware()
    dispatcher.update.outer_middleware(inflight)
    throttling = ThrottlingMiddleware(catalogue)
    reader_context = ReaderMiddleware(catalogue)
    for observer in (dispatcher.message, dispatcher.callback_query):
        observer.outer_middleware(throttling)
        observer.outer_middleware(reader_context)
    dispatcher.include_router(build_router())
    return dispatcher, inflight
