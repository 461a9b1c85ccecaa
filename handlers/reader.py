"""Reader commands in private chats (SPEC 4): parse, call `ReaderService`, render."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import BotCommandScopeChat, CallbackQuery, InlineKeyboardMarkup, Message

from bot.editorial import EditorialService
from bot.i18n import Catalogue, Translator
from bot.news import NewsService
from bot.readers import MAX_SUBSCRIPTIONS, ReaderService, Rejected, clean_argument, parse_switch
from bot.ui import views
from bot.ui.callbacks import ChooseLanguage, RemoveSubscription, TopicToggle
from bot.ui.schedule_views import has_schedule_row, with_schedule_row
from storage.chats import Chat


async def _edit_markup(message: Message, markup: InlineKeyboardMarkup) -> None:
    """Two quick taps can ask for the markup already shown; Telegram calls that an error."""
    try:
        await message.edit_reply_markup(reply_markup=markup)
    except TelegramBadRequest as error:
        if "message is not modified" not in error.message:
            raise


async def _topics_markup(readers: ReaderService, reader: Chat) -> InlineKeyboardMarkup:
    return views.topics_keyboard(await readers.topic_states(reader.chat_id), reader.language)


async def start(
    message: Message, reader: Chat, reader_created: bool, t: Translator, readers: ReaderService
) -> None:
    # A name is shown as the reader can see it: no RTL override turning the greeting around.
    name = clean_argument(message.from_user.first_name) if message.from_user else ""
    text = t("start.new" if reader_created else "start.back", name=name)
    await message.answer(text, reply_markup=await _topics_markup(readers, reader))


async def help_command(message: Message, t: Translator, readers: ReaderService) -> None:
    sources = views.sources_text(t, await readers.sources())
    await message.answer(t("help.text", sources=sources, limit=MAX_SUBSCRIPTIONS))


async def topics(message: Message, reader: Chat, t: Translator, readers: ReaderService) -> None:
    """Topics, and a row under them for the digest and quiet hours (SPEC 4.11, 4.12)."""
    markup = with_schedule_row(await _topics_markup(readers, reader), t)
    await message.answer(t("topics.prompt"), reply_markup=markup)


async def subscribe(
    message: Message, command: CommandObject, reader: Chat, t: Translator, readers: ReaderService
) -> None:
    if not command.args:
        await message.answer(
            t("subscribe.usage"), reply_markup=await _topics_markup(readers, reader)
        )
        return
    result = await readers.subscribe(reader.chat_id, command.args)
    if isinstance(result, Rejected):
        await message.answer(views.rejection_text(t, result, await readers.sources()))
    else:
        await message.answer(views.change_text(t, result, readers.taxonomy))


async def unsubscribe(
    message: Message, command: CommandObject, reader: Chat, t: Translator, readers: ReaderService
) -> None:
    if not command.args:
        subs = await readers.subscriptions(reader.chat_id)
        if not subs:
            await message.answer(t("unsubscribe.none"))
            return
        markup = views.unsubscribe_keyboard(subs, readers.taxonomy, reader.language)
        await message.answer(t("unsubscribe.choose"), reply_markup=markup)
        return
    result = await readers.unsubscribe(reader.chat_id, command.args)
    if isinstance(result, Rejected):
        await message.answer(views.rejection_text(t, result, await readers.sources()))
    else:
        await message.answer(views.change_text(t, result, readers.taxonomy))


async def latest(
    message: Message,
    command: CommandObject,
    reader: Chat,
    t: Translator,
    readers: ReaderService,
    news: NewsService,
    editorial: EditorialService,
    timezone: str,
) -> None:
    result = await news.latest(reader.chat_id, command.args)
    if isinstance(result, Rejected):
        await message.answer(views.rejection_text(t, result, await readers.sources()))
        return
    user = message.from_user
    with_ids = user is not None and await editorial.is_editor(user.id)
    text = views.latest_text(t, result, readers.taxonomy, timezone, with_ids=with_ids)
    await message.answer(text)


async def list_command(
    message: Message, reader: Chat, t: Translator, readers: ReaderService, timezone: str
) -> None:
    subs = await readers.subscriptions(reader.chat_id)
    await message.answer(views.list_text(t, reader, subs, readers.taxonomy, timezone))


async def pause(message: Message, reader: Chat, t: Translator, readers: ReaderService) -> None:
    changed = await readers.set_paused(reader.chat_id, True)
    await message.answer(t("pause.done" if changed else "pause.already"))


async def resume(message: Message, reader: Chat, t: Translator, readers: ReaderService) -> None:
    changed = await readers.set_paused(reader.chat_id, False)
    await message.answer(t("resume.done" if changed else "resume.already"))


async def previews(
    message: Message, command: CommandObject, reader: Chat, t: Translator, readers: ReaderService
) -> None:
    """`/previews on|off` (SPEC 7.5); anything else shows the setting and the usage."""
    wanted = parse_switch(command.args or "")
    if wanted is None:
        state = t("previews.state_on" if reader.previews else "previews.state_off")
        await message.answer(t("previews.usage", state=state))
        return
    changed = await readers.set_previews(reader.chat_id, wanted)
    key = ("on" if wanted else "off") if changed else ("already_on" if wanted else "already_off")
    await message.answer(t(f"previews.{key}"))


async def _switch_language(
    bot: Bot, chat_id: int, language: str, readers: ReaderService, catalogue: Catalogue
) -> Translator | None:
    if await readers.set_language(chat_id, language) is None:
        return None
    t = catalogue.translator(language)
    # The command menu follows the reader's choice, not only their app's language.
    await bot.set_my_commands(views.bot_commands(t), scope=BotCommandScopeChat(chat_id=chat_id))
    return t


async def lang(
    message: Message,
    command: CommandObject,
    bot: Bot,
    reader: Chat,
    t: Translator,
    readers: ReaderService,
    catalogue: Catalogue,
) -> None:
    if not command.args:
        await message.answer(t("lang.choose"), reply_markup=views.language_keyboard())
        return
    new_t = await _switch_language(
        bot, reader.chat_id, command.args.strip().lower(), readers, catalogue
    )
    await message.answer(new_t("lang.done") if new_t else t("lang.unknown"))


async def toggle_topic(
    query: CallbackQuery,
    callback_data: TopicToggle,
    reader: Chat,
    t: Translator,
    readers: ReaderService,
) -> None:
    toggle = await readers.toggle_topic(reader.chat_id, callback_data.topic)
    if toggle is None or not isinstance(query.message, Message):
        await query.answer(t.plain("errors.stale_button"))
        return
    if toggle.subscribed is None:
        await query.answer(t.plain("topics.limit", limit=MAX_SUBSCRIPTIONS), show_alert=True)
        return
    markup = await _topics_markup(readers, reader)
    if has_schedule_row(query.message.reply_markup):
        markup = with_schedule_row(markup, t)
    await _edit_markup(query.message, markup)
    key = "topics.subscribed" if toggle.subscribed else "topics.unsubscribed"
    await query.answer(t.plain(key, topic=views.topic_label(toggle.topic, reader.language)))


async def remove_subscription(
    query: CallbackQuery,
    callback_data: RemoveSubscription,
    reader: Chat,
    t: Translator,
    readers: ReaderService,
) -> None:
    removed = await readers.unsubscribe_by_id(
        reader.chat_id, callback_data.subscription_id, callback_data.tag
    )
    if removed is None or not isinstance(query.message, Message):
        await query.answer(t.plain("errors.stale_button"))
        return
    subs = await readers.subscriptions(reader.chat_id)
    if subs:
        await _edit_markup(
            query.message, views.unsubscribe_keyboard(subs, readers.taxonomy, reader.language)
        )
    else:
        try:
            await query.message.edit_text(t("unsubscribe.all_removed"))
        except TelegramBadRequest as error:  # two last buttons pressed at once
            if "message is not modified" not in error.message:
                raise
    label = views.subscription_label(removed, readers.taxonomy, reader.language)
    await query.answer(t.plain("unsubscribe.removed_toast", label=label))


async def choose_language(
    query: CallbackQuery,
    callback_data: ChooseLanguage,
    bot: Bot,
    reader: Chat,
    t: Translator,
    readers: ReaderService,
    catalogue: Catalogue,
) -> None:
    new_t = await _switch_language(bot, reader.chat_id, callback_data.language, readers, catalogue)
    if new_t is None or not isinstance(query.message, Message):
        await query.answer(t.plain("errors.stale_button"))
        return
    await query.message.edit_text(new_t("lang.done"))
    await query.answer()


async def stale_button(query: CallbackQuery, t: Translator) -> None:
    """Callback data we never produced (forged, or from an older version of the bot)."""
    await query.answer(t.plain("errors.stale_button"))


async def unknown_command(message: Message, t: Translator) -> None:
    command = (message.text or "").split()[0][:32]
    await message.answer(t("errors.unknown_command", command=command))


async def not_a_command(message: Message, t: Translator) -> None:
    await message.answer(t("errors.not_a_command"))


def reader_router() -> Router:
    """Private chats only: in groups the bot stays silent unless addressed by editors."""
    router = Router(name="reader")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")

    router.message.register(start, CommandStart())
    router.message.register(help_command, Command("help"))
    router.message.register(topics, Command("topics"))
    router.message.register(subscribe, Command("subscribe"))
    router.message.register(unsubscribe, Command("unsubscribe"))
    router.message.register(list_command, Command("list"))
    router.message.register(latest, Command("latest"))
    router.message.register(pause, Command("pause"))
    router.message.register(resume, Command("resume"))
    router.message.register(lang, Command("lang"))
    router.message.register(previews, Command("previews"))
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(not_a_command)

    router.callback_query.register(toggle_topic, TopicToggle.filter())
    router.callback_query.register(remove_subscription, RemoveSubscription.filter())
    router.callback_query.register(choose_language, ChooseLanguage.filter())
    router.callback_query.register(stale_button)
    return router
