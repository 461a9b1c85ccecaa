"""Editors' commands (SPEC 5.4, 8.2, 8.2a, 8.3 /feeds, 8.5, 8.6 /export): parse, call a service,
render. Admins may use them too; `handlers.roles` refuses everyone else."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.admin import AdminService
from bot.editorial import EditorialService, PostRejected
from bot.i18n import Translator
from bot.readers import ReaderService
from bot.stats_report import MAX_DAYS, StatsService, parse_days
from bot.topic_review import TopicReviewService
from bot.ui import review_views
from bot.ui import staff_views as views
from bot.ui.callbacks import MAX_ROW_ID, BreakingAction
from bot.ui.stats_views import stats_picture
from handlers.roles import IsEditor, guarded

EDITOR_COMMANDS = ("post", "correct", "recall", "stats", "feeds", "export", "why", "retopic")


def _item_and_text(args: str | None) -> tuple[int | None, str]:
    """`ID rest...` (`№ID` too); the rest keeps its line breaks."""
    head, *rest = (args or "").split(maxsplit=1) or [""]
    head = head.removeprefix("№")
    # ASCII digits only: "²".isdigit() is true and int("²") raises. A number past what
    # SQLite stores is no item either (the driver would raise OverflowError), and 4300
    # digits or more are refused by int() itself.
    digits = head.isascii() and head.isdecimal() and len(head) <= len(str(MAX_ROW_ID))
    number = int(head) if digits else None
    item_id = number if number is not None and 1 <= number <= MAX_ROW_ID else None
    return item_id, (rest[0].strip() if rest else "")


async def post(
    message: Message, command: CommandObject, t: Translator, editorial: EditorialService
) -> None:
    assert message.from_user is not None
    # `/post ...` as a photo's caption: channels get the photo with the text (SPEC 7.5).
    photo = message.photo[-1].file_id if message.photo else None
    draft = await editorial.draft(message.from_user.id, command.args, photo)
    if isinstance(draft, PostRejected):
        await message.answer(views.post_rejection_text(t, draft))
        return
    item_id = draft.item.breaking_id
    await message.answer(
        views.preview_text(t, draft), reply_markup=views.preview_keyboard(t, item_id)
    )


async def breaking_press(
    query: CallbackQuery,
    callback_data: BreakingAction,
    t: Translator,
    editorial: EditorialService,
) -> None:
    item_id = callback_data.item_id
    outcome, queued = await editorial.press(item_id, query.from_user.id, callback_data.send)
    text = views.press_text(t, outcome, item_id, queued)
    if text is not None and isinstance(query.message, Message):
        await query.message.edit_text(text)  # without the buttons: nothing to press twice
    await query.answer(views.press_toast(t, outcome))


async def correct(
    message: Message, command: CommandObject, t: Translator, editorial: EditorialService
) -> None:
    item_id, text = _item_and_text(command.args)
    if item_id is None or not text:
        await message.answer(t("editor.correct_usage"))
        return
    report = await editorial.correct(item_id, text)
    await message.answer(views.copies_text(t, "editor.corrected", item_id, report))


async def recall(
    message: Message, command: CommandObject, t: Translator, editorial: EditorialService
) -> None:
    item_id, _ = _item_and_text(command.args)
    if item_id is None:
        await message.answer(t("editor.recall_usage"))
        return
    report = await editorial.recall(item_id)
    await message.answer(views.copies_text(t, "editor.recalled", item_id, report))


async def stats(
    message: Message,
    command: CommandObject,
    t: Translator,
    statistics: StatsService,
    readers: ReaderService,
) -> None:
    """`/stats [DAYS]` (SPEC 8.5): the chart of the window with today's figures as its
    caption; the figures alone while fewer than two days are recorded."""
    days = parse_days(command.args)
    if days is None:
        await message.answer(t("stats.usage", max=MAX_DAYS))
        return
    today = await statistics.today()
    history = await statistics.history(days)
    if len(history) < 2:
        await message.answer(views.stats_text(t, today))
        return
    png = await stats_picture(history, t, readers.taxonomy, days)
    await message.answer_photo(
        BufferedInputFile(png, filename="stats.png"), caption=views.stats_caption(t, today)
    )


async def feeds(message: Message, t: Translator, admin: AdminService, timezone: str) -> None:
    text = views.feeds_text(t, await admin.feed_health(), timezone)
    for part in views.split_message(text):
        await message.answer(part)


async def why(
    message: Message,
    command: CommandObject,
    t: Translator,
    review: TopicReviewService,
    timezone: str,
) -> None:
    article_id, rest = _item_and_text(command.args)
    if article_id is None or rest:
        await message.answer(t("review.why_usage"))
        return
    found = await review.why(article_id)
    if found is None:
        await message.answer(t("review.not_found", id=article_id))
        return
    for part in review_views.why_text(t, found, review.taxonomy, timezone):
        await message.answer(part)


async def retopic(
    message: Message, command: CommandObject, t: Translator, review: TopicReviewService
) -> None:
    assert message.from_user is not None
    article_id, changes = _item_and_text(command.args)
    if article_id is None:
        await message.answer(t("review.retopic_usage"))
        return
    result = await review.retopic(article_id, message.from_user.id, changes)
    await message.answer(review_views.retopic_text(t, article_id, result))


async def export(
    message: Message,
    command: CommandObject,
    t: Translator,
    admin: AdminService,
    review: TopicReviewService,
    statistics: StatsService,
) -> None:
    what = (command.args or "").strip().casefold()
    if what == "stats":
        table, count = await statistics.export_csv()
        await _send_export(message, t, table, count, "stats.csv", "stats.export")
        return
    if what == "corrections":
        data, count = await review.export_corrections()
        name = "topic-corrections.jsonl"
        await _send_export(message, t, data, count, name, "review.export_corrections")
        return
    if what:
        await message.answer(t("review.export_usage"))
        return
    data, count = await admin.export_opml()
    await message.answer_document(
        BufferedInputFile(data, filename="feeds.opml"),
        caption=t("admin.export_caption", count=count),
    )


async def _send_export(
    message: Message, t: Translator, data: bytes, count: int, filename: str, texts: str
) -> None:
    """A file of `count` records, or `{texts}_none` when there is nothing to export."""
    if not count:
        await message.answer(t(f"{texts}_none"))
        return
    await message.answer_document(
        BufferedInputFile(data, filename=filename), caption=t(f"{texts}_caption", count=count)
    )


def editor_router() -> Router:
    router, allowed = guarded("editor", EDITOR_COMMANDS, IsEditor(), "editor.refused")
    allowed.message.register(post, Command("post"))
    allowed.message.register(correct, Command("correct"))
    allowed.message.register(recall, Command("recall"))
    allowed.message.register(stats, Command("stats"))
    allowed.message.register(feeds, Command("feeds"))
    allowed.message.register(export, Command("export"))
    allowed.message.register(why, Command("why"))
    allowed.message.register(retopic, Command("retopic"))
    # Only the author's own private chat shows the buttons; the service checks the
    # presser anyway (a forwarded or forged press).
    router.callback_query.filter(F.message.chat.type == "private")
    router.callback_query.register(breaking_press, BreakingAction.filter(), IsEditor())
    return router
