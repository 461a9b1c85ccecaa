"""/digest, /tz, /quiet and their buttons (SPEC 4.11, 4.12), in private chats.

Included before the reader router, whose catch-all answers unknown commands."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.i18n import Html, Translator
from bot.reader_schedule import ScheduleService
from bot.schedule import Problem, ScheduleError
from bot.ui.schedule_views import (
    DIGEST_CHOICES,
    OFF,
    QUIET_CHOICES,
    DigestChoice,
    QuietChoice,
    ScheduleMenu,
    digest_keyboard,
    expand,
    quiet_keyboard,
)
from storage.chats import Chat

OFF_WORDS = {"off", "выкл", "нет", "instant"}
ECHO_CHARS = 32  # a bad argument is shown back, bounded


def _is_off(argument: str) -> bool:
    return argument.strip().casefold() in OFF_WORDS


async def _digest(argument: str, reader: Chat, t: Translator, schedules: ScheduleService) -> Html:
    """Apply a /digest argument (or a button); the reply text."""
    zone = schedules.zone_of(reader)
    if _is_off(argument):
        moved = await schedules.digest_off(reader)
        if moved is None:
            return t("digest.already_off")
        return t("digest.off_flushed", count=moved) if moved else t("digest.off")
    try:
        at = await schedules.set_digest(reader.chat_id, argument)
    except ScheduleError:
        return t("digest.bad_time", text=argument[:ECHO_CHARS])
    return t("digest.set", time=at, timezone=zone)


async def _quiet(argument: str, reader: Chat, t: Translator, schedules: ScheduleService) -> Html:
    if _is_off(argument):
        await schedules.quiet_off(reader.chat_id)
        return t("quiet.off")
    try:
        window = await schedules.set_quiet(reader.chat_id, argument)
    except ScheduleError as error:
        if error.problem is Problem.SAME:
            return t("quiet.same")
        return t("quiet.bad", text=argument[:ECHO_CHARS])
    return t("quiet.done", window=str(window), timezone=schedules.zone_of(reader))


async def digest(
    message: Message,
    command: CommandObject,
    reader: Chat,
    t: Translator,
    schedules: ScheduleService,
) -> None:
    argument = (command.args or "").strip()
    if not argument:
        text = t("digest.usage", timezone=schedules.zone_of(reader))
        await message.answer(text, reply_markup=digest_keyboard(t))
        return
    await message.answer(await _digest(argument, reader, t, schedules))
    await schedules.catch_up(reader.chat_id)


async def quiet(
    message: Message,
    command: CommandObject,
    reader: Chat,
    t: Translator,
    schedules: ScheduleService,
) -> None:
    argument = (command.args or "").strip()
    if not argument:
        text = t("quiet.usage", timezone=schedules.zone_of(reader))
        await message.answer(text, reply_markup=quiet_keyboard(t))
        return
    await message.answer(await _quiet(argument, reader, t, schedules))


async def tz(
    message: Message,
    command: CommandObject,
    reader: Chat,
    t: Translator,
    schedules: ScheduleService,
) -> None:
    argument = (command.args or "").strip()
    if not argument:
        await message.answer(t("tz.usage", timezone=schedules.zone_of(reader)))
        return
    zone = await schedules.set_timezone(reader.chat_id, argument)
    if zone is None:
        await message.answer(t("tz.unknown", text=argument[:ECHO_CHARS]))
        return
    await message.answer(t("tz.done", timezone=zone, now=schedules.local_now(zone)))
    await schedules.catch_up(reader.chat_id)


async def open_menu(
    query: CallbackQuery,
    callback_data: ScheduleMenu,
    reader: Chat,
    t: Translator,
    schedules: ScheduleService,
) -> None:
    if not isinstance(query.message, Message) or callback_data.menu not in ("digest", "quiet"):
        await query.answer(t.plain("errors.stale_button"))
        return
    zone = schedules.zone_of(reader)
    if callback_data.menu == "digest":
        await query.message.answer(
            t("digest.choose", timezone=zone), reply_markup=digest_keyboard(t)
        )
    else:
        await query.message.answer(t("quiet.choose", timezone=zone), reply_markup=quiet_keyboard(t))
    await query.answer()


async def choose_digest(
    query: CallbackQuery,
    callback_data: DigestChoice,
    reader: Chat,
    t: Translator,
    schedules: ScheduleService,
) -> None:
    # Only what the keyboard offers: anything else was forged (or is from an older bot).
    if not isinstance(query.message, Message) or callback_data.at not in DIGEST_CHOICES:
        await query.answer(t.plain("errors.stale_button"))
        return
    argument = OFF if callback_data.at == OFF else expand(callback_data.at)
    await query.message.edit_text(await _digest(argument, reader, t, schedules))
    await query.answer()
    await schedules.catch_up(reader.chat_id)


async def choose_quiet(
    query: CallbackQuery,
    callback_data: QuietChoice,
    reader: Chat,
    t: Translator,
    schedules: ScheduleService,
) -> None:
    if not isinstance(query.message, Message) or callback_data.window not in QUIET_CHOICES:
        await query.answer(t.plain("errors.stale_button"))
        return
    argument = OFF if callback_data.window == OFF else expand(callback_data.window)
    await query.message.edit_text(await _quiet(argument, reader, t, schedules))
    await query.answer()


def schedule_router() -> Router:
    router = Router(name="schedule")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(digest, Command("digest"))
    router.message.register(quiet, Command("quiet"))
    router.message.register(tz, Command("tz"))
    router.callback_query.register(open_menu, ScheduleMenu.filter())
    router.callback_query.register(choose_digest, DigestChoice.filter())
    router.callback_query.register(choose_quiet, QuietChoice.filter())
    return router
