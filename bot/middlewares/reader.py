"""Gives private-chat handlers the reader (`reader`) and their translator (`t`).

Any message in a private chat proves the reader can be reached, so an unknown chat is
registered here (language from Telegram's `language_code`, SPEC 4.1) and a chat marked
blocked is re-activated; /start only decides which greeting to show.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.i18n import Catalogue, language_for
from bot.readers import ReaderService

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ReaderMiddleware(BaseMiddleware):
    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat = event.chat if isinstance(event, Message) else None
        if isinstance(event, CallbackQuery) and event.message is not None:
            chat = event.message.chat
        user = getattr(event, "from_user", None)
        if chat is None or chat.type != "private" or user is None:
            return await handler(event, data)
        readers: ReaderService = data["readers"]
        reader = await readers.chat(chat.id)
        created = False
        if reader is None or not reader.active:
            reader, created = await readers.register(chat.id, language_for(user.language_code))
        data["reader"] = reader
        data["reader_created"] = created
        data["t"] = self._catalogue.translator(reader.language)
        return await handler(event, data)
