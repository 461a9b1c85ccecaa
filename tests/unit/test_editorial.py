"""Editors' pure parts (hashtags, headline split) and the press rules on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from bot.delivery.pacing import Pacer
from bot.editorial import (
    BreakingWatcher,
    EditorialService,
    ParsedPost,
    PostProblem,
    PostRejected,
    Press,
    parse_post,
    split_text,
)
from bot.i18n import Catalogue
from handlers.editor import day_start
from storage.breaking import BreakingRepository
from storage.chats import ChatRepository
from storage.database import Database
from storage.roles import RoleRepository

TOPICS = {"china", "trade", "energy"}
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def known(topic: str) -> bool:
    return topic in TOPICS


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("#china #trade Текст", ParsedPost(("china", "trade"), "Текст")),
        ("#China, #TRADE Текст", ParsedPost(("china", "trade"), "Текст")),
        ("#china #china Текст", ParsedPost(("china",), "Текст")),
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


def test_day_start_is_local_midnight_in_utc():
    moment = datetime(2025, 3, 1, 22, 30, tzinfo=UTC)  # already 2 March in Moscow
    assert day_start("Europe/Moscow", moment) == "2025-03-01T21:00:00+00:00"
    assert day_start("UTC", moment) == "2025-03-01T00:00:00+00:00"


@pytest_asyncio.fixture
async def db(tmp_path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "bot.sqlite3")
    try:
        yield database
    finally:
        await database.close()


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
