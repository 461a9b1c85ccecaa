"""The one place an unexpected exception in a handler ends up (STYLE practice 11)."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import ErrorEvent

from bot.i18n import Catalogue, language_for

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, catalogue: Catalogue) -> bool:
    update = event.update
    log.error(
        "update_id=%s failed: %s: %s",
        update.update_id,
        type(event.exception).__name__,
        event.exception,
        exc_info=event.exception,
    )
    message = update.message or (update.callback_query.message if update.callback_query else None)
    user = (
        update.message.from_user
        if update.message
        else (update.callback_query.from_user if update.callback_query else None)
    )
    if message is None or message.chat.type != "private":
        return True
    t = catalogue.translator(language_for(user.language_code if user else None))
    try:
        if update.callback_query:
            await update.callback_query.answer(t.plain("errors.internal"), show_alert=True)
        else:
            await message.answer(t("errors.internal"))
    except Exception:  # the error reply is best effort: Telegram may be the failing part
        log.warning("could not tell chat_id=%s about the error", message.chat.id)
    return True


def errors_router() -> Router:
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
