"""Editors' pure parts (hashtags, headline split) and the press rules on a real database."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from bot.admin import AdminService, FeedHealth, Refused
from bot.delivery.pacing import Pacer
from bot.delivery.render import utf16_len
from bot.editorial import (
    MAX_PHOTO_POST_CHARS,
    BreakingWatcher,
    CopiesReport,
    EditorialService,
    ItemProblem,
    ParsedPost,
    PostProblem,
    PostRejected,
    Press,
    parse_post,
    split_text,
)
from bot.i18n import Catalogue
from bot.ui.staff_views import (
    copies_text,
    feeds_text,
    post_rejection_text,
    split_message,
)
from handlers.editor import _item_and_text
from storage.articles import ArticleRepository
from storage.breaking import BreakingRepository, _insert_article
from storage.chats import ChatRepository
from storage.database import Database
from storage.feeds import Feed
from storage.outbox import OutboxRepository, Sent
from storage.roles import RoleRepository

TOPICS = {"china", "trade", "energy"}
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def known(tag: str) -> str | None:
    """Topic ids, and `#Китай` for china as the shipped taxonomy has it."""
    tag = {"китай": "china"}.get(tag, tag)
    return tag if tag in TOPICS else None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("#china #trade Текст", ParsedPost(("china", "trade"), "Текст")),
        ("#China, #TRADE Текст", ParsedPost(("china", "trade"), "Текст")),
        ("#china #china Текст", ParsedPost(("china",), "Текст")),
        ("#Китай #trade Текст", ParsedPost(("china", "trade"), "Текст")),
        ("#КИТАЙ #china Текст", ParsedPost(("china",), "Текст")),
        ("Текст про #china", ParsedPost((), "Текст про #china")),
        ("#china\nЗаголовок\nТело", ParsedPost(("china",), "Заголовок\nТело")),
        ("Просто текст", ParsedPost((), "Просто текст")),
        ("# Текст", ParsedPost((), "# Текст")),
    ],
)
def test_leading_hashtags_are_topics(args, expected):
    assert parse_post(args, known) == expected


@pytest.mark.parametrize(
    ("args", "problem", "detail"),
    [
        (None, PostProblem.EMPTY, ""),
        ("   ", PostProblem.EMPTY, ""),
        ("#china", PostProblem.EMPTY, ""),
        ("#chnia #trade Текст", PostProblem.UNKNOWN_TOPICS, "#chnia"),
        ("x" * 3501, PostProblem.TOO_LONG, "3501"),
    ],
)
def test_bad_posts_are_rejected(args, problem, detail):
    assert parse_post(args, known) == PostRejected(problem, detail)


def test_invisible_characters_are_dropped():
    assert parse_post("#china Те\u200bкст", known) == ParsedPost(("china",), "Текст")


def test_first_line_is_the_headline():
    assert split_text("Заголовок\nПервый абзац\nВторой") == ("Заголовок", "Первый абзац\nВторой")
    assert split_text("Одна строка") == ("Одна строка", "")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def service(db: Database, clock: Clock) -> EditorialService:
    return EditorialService(
        BreakingRepository(db),
        RoleRepository(db),
        frozenset({900}),
        known,
        bot=None,  # type: ignore[arg-type]  # no copies are edited here
        pacer=Pacer(None),
        catalogue=Catalogue.load(),
        clock=clock,
    )


async def readers(db: Database, *ids: int) -> None:
    chats = ChatRepository(db)
    for chat_id in ids:
        await chats.register(chat_id, "en")


async def test_send_once_only_by_its_editor(db):
    clock = Clock()
    editorial = service(db, clock)
    await readers(db, 900, 1001, 1002)
    draft = await editorial.draft(900, "Всем")
    assert not isinstance(draft, PostRejected)
    assert (draft.readers, draft.channels) == (3, 0)
    item = draft.item.breaking_id
    assert await editorial.press(item, 1001, send=True) == (Press.NOT_YOURS, 0)
    assert await editorial.press(item, 900, send=True) == (Press.SENT, 3)
    assert await editorial.press(item, 900, send=True) == (Press.DONE_ALREADY, 0)
    assert await editorial.press(item, 900, send=False) == (Press.DONE_ALREADY, 0)
    assert await editorial.press(item + 1, 900, send=True) == (Press.UNKNOWN, 0)


async def test_a_stale_preview_expires(db):
    clock = Clock()
    editorial = service(db, clock)
    await readers(db, 900)
    draft = await editorial.draft(900, "Поздно")
    assert not isinstance(draft, PostRejected)
    clock.now = NOW + timedelta(hours=1, seconds=1)
    assert await editorial.press(draft.item.breaking_id, 900, send=True) == (Press.EXPIRED, 0)
    assert await editorial.press(draft.item.breaking_id, 900, send=True) == (Press.EXPIRED, 0)
    rows = await db.fetch_all("SELECT count(*) FROM outbox")
    assert rows[0][0] == 0


async def test_the_report_is_queued_once_when_nothing_is_left_to_send(db):
    clock = Clock()
    editorial = service(db, clock)
    await readers(db, 900, 1001)
    draft = await editorial.draft(900, "#china Для подписчиков")
    assert not isinstance(draft, PostRejected)
    assert await editorial.press(draft.item.breaking_id, 900, send=True) == (Press.SENT, 0)
    texts = []
    watcher = BreakingWatcher(
        BreakingRepository(db),
        ChatRepository(db),
        lambda item, delivery, language: texts.append(delivery) or "report",
        clock=clock,
    )
    assert await watcher.check() == 1
    assert await watcher.check() == 0
    assert [(d.sent, d.blocked, d.failed) for d in texts] == [(0, 0, 0)]
    rows = await db.fetch_all("SELECT chat_id, text, priority FROM outbox")
    assert [tuple(r) for r in rows] == [(900, "report", 10)]


async def test_report_is_not_queued_while_send_has_not_written_its_rows(db):
    """The watcher's read once saw `send()`'s uncommitted 'sent' before its outbox rows
    existed: the editor got a "0 sent" report and never the real one."""
    clock = Clock()
    editorial = service(db, clock)
    await readers(db, 900, 1001)
    draft = await editorial.draft(900, "Всем")
    assert not isinstance(draft, PostRejected)
    item = draft.item.breaking_id
    texts = []
    watcher = BreakingWatcher(
        BreakingRepository(db),
        ChatRepository(db),
        lambda found, delivery, language: texts.append(delivery) or "report",
        clock=clock,
    )
    async with db.transaction() as conn:  # `send()` half-way: sent, no rows yet
        article_id = await _insert_article(conn, item, "Всем", "", [], NOW.isoformat())
        await conn.execute(
            "UPDATE breaking SET status = 'sent', article_id = ? WHERE breaking_id = ?",
            (article_id, item),
        )
        check = asyncio.create_task(watcher.check())
        await asyncio.sleep(0.05)  # the watcher reads now and waits for the write lock
        await conn.execute(
            "INSERT INTO outbox (chat_id, article_id, priority, created_at)"
            " VALUES (1001, ?, 10, ?)",
            (article_id, NOW.isoformat()),
        )
    assert await check == 0
    assert texts == []
    await db.execute("UPDATE outbox SET status = 'sent', message_id = 5")
    assert await watcher.check() == 1
    assert [(d.sent, d.pending) for d in texts] == [(1, 0)]


class CopiesBot:
    """deleteMessage/editMessageText that succeed; `on_call` runs during the first one."""

    def __init__(self) -> None:
        self.deleted: list[tuple[int, int]] = []
        self.edited: list[tuple[int, int]] = []
        self.texts: dict[int, str] = {}  # chat id -> the copy's new text
        self.on_call = None

    async def _hook(self) -> None:
        hook, self.on_call = self.on_call, None
        if hook is not None:
            await hook()

    async def delete_message(self, chat_id: int, message_id: int) -> bool:
        await self._hook()
        self.deleted.append((chat_id, message_id))
        return True

    async def edit_message_text(
        self, *, chat_id: int, message_id: int, text: str = "", **_: object
    ) -> None:
        await self._hook()
        self.edited.append((chat_id, message_id))
        self.texts[chat_id] = text


def copies_service(db: Database, bot: CopiesBot, **options: object) -> EditorialService:
    return EditorialService(
        BreakingRepository(db),
        RoleRepository(db),
        frozenset({900}),
        known,
        bot=bot,  # type: ignore[arg-type]
        pacer=Pacer(None, chat_interval=None, group_limit=None),
        catalogue=Catalogue.load(),
        clock=Clock(),
        **options,  # type: ignore[arg-type]
    )


async def test_corrected_copies_carry_hashtags_in_each_chats_language(db):
    bot = CopiesBot()
    tags = {("china", "ru"): "Китай", ("china", "en"): "China"}
    editorial = copies_service(db, bot, hashtag=lambda topic, lang: tags[topic, lang])
    await ChatRepository(db).register(1002, "ru")
    await readers(db, 900)
    for chat_id in (900, 1002):
        await db.execute(
            "INSERT INTO subscriptions (chat_id, kind, value, key, created_at)"
            " VALUES (?, 'topic', 'china', 'china', ?)",
            (chat_id, NOW.isoformat()),
        )
    rows = await sent_item(db, editorial, text="#Китай Заголовок\nТекст")
    assert sorted(rows) == [900, 1002]
    for number, outbox_id in enumerate(rows.values(), start=1):
        await deliver(db, outbox_id, number)
    report = await editorial.correct(1, "Исправленный заголовок\nТекст")
    assert report == CopiesReport(done=2, failed=0, waiting=0)
    assert bot.texts[900].endswith("\n\n#China")
    assert bot.texts[1002].endswith("\n\n#Китай")


async def sent_item(
    db: Database, editorial: EditorialService, *chats: int, text: str = "Заголовок\nТекст"
) -> dict[int, int]:
    """An item sent to `chats`; returns each chat's outbox id (rows still pending)."""
    await readers(db, *chats)
    draft = await editorial.draft(900, text)
    assert not isinstance(draft, PostRejected)
    assert (await editorial.press(draft.item.breaking_id, 900, send=True))[0] is Press.SENT
    rows = await db.fetch_all("SELECT chat_id, outbox_id FROM outbox WHERE article_id IS NOT NULL")
    return {r["chat_id"]: r["outbox_id"] for r in rows}


async def deliver(db: Database, outbox_id: int, message_id: int) -> None:
    await OutboxRepository(db).record([Sent(outbox_id, message_id, NOW)])


async def test_concurrent_recalls_of_one_item_proceed_once(db):
    bot = CopiesBot()
    editorial = copies_service(db, bot)
    rows = await sent_item(db, editorial, 900, 1001)
    for number, outbox_id in enumerate(rows.values(), start=1):
        await deliver(db, outbox_id, number)
    first, second = await asyncio.gather(editorial.recall(1), editorial.recall(1))
    assert {type(first), type(second)} == {CopiesReport, ItemProblem}
    assert sorted(bot.deleted) == [(900, 1), (1001, 2)]
    assert await editorial.recall(1) is ItemProblem.RECALLED
    # The storage decides too: a second recall of the item is refused there.
    assert await BreakingRepository(db).recall(1, NOW) is None
    assert sorted(bot.deleted) == [(900, 1), (1001, 2)]


async def test_recalled_item_is_left_out_of_keyword_searches(db):
    editorial = copies_service(db, CopiesBot())
    await sent_item(db, editorial, 900, text="#china Заголовок\nТекст")
    articles = ArticleRepository(db)
    assert [a.title for a in await articles.latest()] == ["Заголовок"]
    assert [a.title for a in await articles.latest_by_topics(["china"])] == ["Заголовок"]
    await editorial.recall(1)
    assert await articles.latest() == []
    assert await articles.latest_by_topics(["china"]) == []


async def test_copies_delivered_during_or_after_a_recall_are_deleted(db):
    """The sender held rows in memory when /recall ran and recorded them `sent` after:
    those copies stayed in the chats for good."""
    bot = CopiesBot()
    editorial = copies_service(db, bot)
    rows = await sent_item(db, editorial, 900, 1001, 1002)
    await deliver(db, rows[1001], 11)
    await db.execute(
        "UPDATE outbox SET status = 'sending' WHERE outbox_id IN (?, ?)", (rows[1002], rows[900])
    )

    async def held_copy_goes_out() -> None:
        await deliver(db, rows[1002], 12)

    bot.on_call = held_copy_goes_out
    report = await editorial.recall(1)
    assert report == CopiesReport(done=2, failed=0, waiting=2)
    assert sorted(bot.deleted) == [(1001, 11), (1002, 12)]

    await deliver(db, rows[900], 13)  # later still: the editor runs /recall again
    assert await editorial.recall(1) == CopiesReport(done=1, failed=0, waiting=0)
    assert sorted(bot.deleted) == [(900, 13), (1001, 11), (1002, 12)]
    assert await editorial.recall(1) is ItemProblem.RECALLED
    assert len(bot.deleted) == 3


async def test_copies_delivered_during_a_correction_are_edited(db):
    bot = CopiesBot()
    editorial = copies_service(db, bot)
    rows = await sent_item(db, editorial, 900, 1001)
    await deliver(db, rows[1001], 11)
    await db.execute(
        "UPDATE outbox SET status = 'sending' WHERE outbox_id = ?", (rows[900],)
    )

    async def held_copy_goes_out() -> None:
        await deliver(db, rows[900], 12)

    bot.on_call = held_copy_goes_out
    report = await editorial.correct(1, "Новый заголовок")
    assert (report.done, report.failed) == (2, 0)
    assert sorted(bot.edited) == [(900, 12), (1001, 11)]


def test_feeds_listing_with_long_urls_and_errors_is_split_for_telegram():
    """/feeds with long URLs and errors was one message over 4096: Telegram refused it."""
    t = Catalogue.load().translator("en")
    feeds = [
        FeedHealth(
            Feed(
                feed_id=n,
                url=f"https://x.example/{n}/" + "u" * 2000,
                name=f"feed{n}",
                encoding=None,
                failures=3,
                last_error="😱" * 3000,
                last_error_at="2025-03-01T12:00:00+00:00",
            ),
            0,
        )
        for n in range(30)
    ]
    text = feeds_text(t, feeds, "UTC")
    assert "u" * 201 not in text and "😱" * 151 not in text
    parts = split_message(text)
    assert len(parts) > 1
    assert all(utf16_len(part) <= 4096 for part in parts)
    assert "\n".join(parts) == text
    assert all(part.count("<b>") == part.count("</b>") for part in parts)


def test_post_length_is_counted_in_utf16_units_like_telegram():
    """Emoji count two for Telegram: 1751 of them passed as 1751 and were too long."""
    assert parse_post("😱" * 1751, known) == PostRejected(PostProblem.TOO_LONG, "3502")
    assert parse_post("😱" * 1750, known) == ParsedPost((), "😱" * 1750)


async def test_correct_with_too_long_text_is_refused_with_the_limit(db):
    bot = CopiesBot()
    editorial = copies_service(db, bot)
    await sent_item(db, editorial, 900)
    refused = await editorial.correct(1, "😱" * 1751)
    assert refused == PostRejected(PostProblem.TOO_LONG, "3502")
    reply = copies_text(Catalogue.load().translator("en"), "editor.corrected", 1, refused)
    assert "3502" in reply and "at most 3500" in reply and "Nothing was changed" in reply
    item = await BreakingRepository(db).get(1)
    assert item is not None and item.text == "Заголовок\nТекст"
    assert bot.edited == []


class DownloadBot:
    """`download()` as aiogram does it: chunks written into the destination, here from a
    file of 10 MB whose size Telegram did not tell."""

    def __init__(self) -> None:
        self.read = 0

    async def download(self, file_id: str, destination):
        for _ in range(160):
            self.read += 65536
            destination.write(b" " * 65536)
        destination.seek(0)
        return destination


async def test_opml_download_without_a_size_stops_at_one_megabyte():
    admin = AdminService(None, None, None, None, None, None, None)  # type: ignore[arg-type]
    bot = DownloadBot()
    result = await admin.import_opml(bot, "file", None)  # type: ignore[arg-type]
    assert isinstance(result, Refused) and result.key == "admin.opml_bad"
    assert bot.read <= 1024 * 1024 + 65536


def test_superscript_digits_are_not_item_ids():
    assert _item_and_text("²") == (None, "")
    assert _item_and_text("№12 Текст") == (12, "Текст")


async def test_a_storage_error_under_one_copy_is_raised_as_itself(db, monkeypatch):
    """Copies are deleted side by side; a database failure while recording one of them
    reaches the handler's error path as the database error, not as a task group."""
    bot = CopiesBot()
    editorial = copies_service(db, bot)
    rows = await sent_item(db, editorial, 900, 1001)
    for number, outbox_id in enumerate(rows.values(), start=1):
        await deliver(db, outbox_id, number)

    async def disk_full(self: BreakingRepository, outbox_id: int) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(BreakingRepository, "copy_deleted", disk_full)
    with pytest.raises(sqlite3.OperationalError):
        await editorial.recall(1)


def test_a_photo_caption_post_has_the_caption_limit_and_the_rejection_says_it():
    """With a photo the text is the caption: refused whole over 900, never cut."""
    at_limit = "я" * MAX_PHOTO_POST_CHARS
    assert parse_post(at_limit, known, photo=True) == ParsedPost((), at_limit)
    refused = parse_post(at_limit + "я", known, photo=True)
    assert refused == PostRejected(PostProblem.TOO_LONG, "901", MAX_PHOTO_POST_CHARS)
    assert parse_post(at_limit + "я", known) == ParsedPost((), at_limit + "я")
    reply = post_rejection_text(Catalogue.load().translator("ru"), refused)
    assert "901" in reply and "не больше 900" in reply


async def test_a_photo_post_is_refused_when_its_hashtags_would_push_the_caption_over(db):
    """900 characters pass alone; with the tags in the longer language they must still
    fit 1,024, or the post is refused whole with the room that is left."""
    long_tags = {"ru": "очень_длинный_хэштег_темы_" + "я" * 20, "en": "tag"}
    editorial = copies_service(
        db, CopiesBot(), hashtag=lambda topic, lang: f"{long_tags[lang]}_{topic}"
    )
    await readers(db, 900)
    tags = "#china #trade #energy "
    text = "Заголовок\n" + "я" * 880
    refused = await editorial.draft(900, tags + text, photo="AgPhotoId")
    assert isinstance(refused, PostRejected) and refused.problem is PostProblem.TOO_LONG
    assert 700 < refused.limit < 890
    fits = "Заголовок\n" + "я" * (refused.limit - len("Заголовок\n"))
    draft = await editorial.draft(900, tags + fits, photo="AgPhotoId")
    assert not isinstance(draft, PostRejected), draft
    # Without a photo the same long text is an ordinary post.
    assert not isinstance(await editorial.draft(900, tags + text), PostRejected)
