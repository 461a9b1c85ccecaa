"""Role filters for editors' and admins' routers (SPEC 8.1): checked on the router, so no
staff handler runs for anyone else, and a refusal router answers them instead."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, Filter
from aiogram.types import CallbackQuery, Message

from bot.editorial import EditorialService
from bot.i18n import Translator


class IsEditor(Filter):
    """Editors and admins."""

    async def __call__(self, event: Message | CallbackQuery, editorial: EditorialService) -> bool:
        user = event.from_user
        return user is not None and await editorial.is_editor(user.id)


class IsAdmin(Filter):
    async def __call__(self, event: Message | CallbackQuery, editorial: EditorialService) -> bool:
        user = event.from_user
        return user is not None and editorial.is_admin(user.id)


def guarded(
    name: str, commands: tuple[str, ...], role: Filter, refusal_key: str
) -> tuple[Router, Router]:
    """(router, allowed): `router` takes `commands` in private chats; handlers registered
    on `allowed` run only for users who pass `role`; everyone else is refused."""
    router = Router(name=name)
    router.message.filter(F.chat.type == "private", Command(*commands))
    allowed = Router(name=f"{name}.allowed")
    allowed.message.filter(role)
    refused = Router(name=f"{name}.refused")

    async def refuse(message: Message, t: Translator) -> None:
        await message.answer(t(refusal_key))

    refused.message.register(refuse)
    router.include_routers(allowed, refused)
    return router, allowed
