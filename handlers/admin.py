"""Admins' commands (SPEC 8.1 editors, 8.3 feeds, 8.4 channels, 8.6 /import); the
migration of a group to a supergroup (any chat, no role: Telegram tells us)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.admin import AdminService, Refused
from bot.editorial import EditorialService
from bot.i18n import Translator
from bot.ui import feed_views
from bot.ui import staff_views as views
from bot.ui.callbacks import FeedPick
from handlers.roles import IsAdmin, guarded

ADMIN_COMMANDS = ("editor", "editors", "addfeed", "delfeed", "channels", "channel", "import")


async def editor(
    message: Message, command: CommandObject, t: Translator, admin: AdminService
) -> None:
    action, _, ref = (command.args or "").strip().partition(" ")
    if action not in ("add", "remove"):
        await message.answer(t("admin.editor_usage"))
        return
    result = await admin.set_editor(ref, action == "add")
    if isinstance(result, Refused):
        await message.answer(views.refusal_text(t, result))
        return
    key = "admin.editor_added" if action == "add" else "admin.editor_removed"
    await message.answer(t(key, id=result))


async def editors(
    message: Message, t: Translator, admin: AdminService, editorial: EditorialService
) -> None:
    text = views.editors_text(t, await admin.editors(), editorial.admin_ids)
    for part in views.split_message(text):
        await message.answer(part)


async def addfeed(
    message: Message, command: CommandObject, t: Translator, admin: AdminService
) -> None:
    url, _, name = (command.args or "").strip().partition(" ")
    if not url:
        await message.answer(t("admin.addfeed_usage"))
        return
    text, markup = feed_views.addfeed_reply(t, await admin.add_feed(url, name or None))
    await message.answer(text, reply_markup=markup)


async def pick_feed(
    query: CallbackQuery, callback_data: FeedPick, t: Translator, admin: AdminService
) -> None:
    """A feed pressed in /addfeed's list of a page's feeds; the list stays for another."""
    message = query.message if isinstance(query.message, Message) else None
    picked = feed_views.picked(message.text if message else None, callback_data)
    if message is None or picked is None:
        await query.answer(t.plain("addfeed.pick_stale"), show_alert=True)
        return
    await query.answer(t.plain("addfeed.checking"))  # a fetch may take up to its timeout
    url, name = picked
    text, _ = feed_views.addfeed_reply(t, await admin.add_feed(url, name, discover=False))
    await message.answer(text)


async def refuse_pick(query: CallbackQuery, t: Translator) -> None:
    await query.answer(t.plain("admin.refused"), show_alert=True)


async def delfeed(
    message: Message, command: CommandObject, t: Translator, admin: AdminService
) -> None:
    if not (command.args or "").strip():
        await message.answer(t("admin.delfeed_usage"))
        return
    result = await admin.delete_feed(command.args)
    if isinstance(result, Refused):
        await message.answer(views.refusal_text(t, result))
        return
    await message.answer(t("admin.feed_deleted", name=result.name, url=result.url))


async def channels(message: Message, t: Translator, admin: AdminService) -> None:
    for part in views.split_message(views.channels_text(t, await admin.channels())):
        await message.answer(part)


async def channel(
    message: Message, command: CommandObject, bot: Bot, t: Translator, admin: AdminService
) -> None:
    action, *args = (command.args or "").split()
    if action == "add" and args:
        result = await admin.add_channel(bot, args)
    elif action == "remove" and len(args) == 1:
        result = await admin.remove_channel(args[0])
    elif action == "set":
        result = await admin.configure_channel(args)
    else:
        await message.answer(t("admin.channel_usage"))
        return
    if isinstance(result, Refused):
        await message.answer(views.refusal_text(t, result))
        return
    await message.answer(views.channel_done_text(t, action, result))


async def import_opml(message: Message, bot: Bot, t: Translator, admin: AdminService) -> None:
    document = message.document
    if document is None:
        await message.answer(t("admin.import_usage"))
        return
    result = await admin.import_opml(bot, document.file_id, document.file_size)
    if isinstance(result, Refused):
        await message.answer(views.refusal_text(t, result))
        return
    for part in views.split_message(views.import_text(t, result)):
        await message.answer(part)


async def migrated(message: Message, admin: AdminService) -> None:
    assert message.migrate_to_chat_id is not None
    await admin.migrate(message.chat.id, message.migrate_to_chat_id)


def admin_router() -> Router:
    router, allowed = guarded("admin", ADMIN_COMMANDS, IsAdmin(), "admin.refused")
    allowed.message.register(editor, Command("editor"))
    allowed.message.register(editors, Command("editors"))
    allowed.message.register(addfeed, Command("addfeed"))
    allowed.message.register(delfeed, Command("delfeed"))
    allowed.message.register(channels, Command("channels"))
    allowed.message.register(channel, Command("channel"))
    allowed.message.register(import_opml, Command("import"))
    # A press is checked like the command: admins only, in the admin's private chat.
    router.callback_query.filter(F.message.chat.type == "private")
    router.callback_query.register(pick_feed, FeedPick.filter(), IsAdmin())
    router.callback_query.register(refuse_pick, FeedPick.filter())
    return router


def migration_router() -> Router:
    """`migrate_to_chat_id` arrives as a service message in the old group (SPEC 8.4)."""
    router = Router(name="migration")
    router.message.register(migrated, F.migrate_to_chat_id)
    return router
