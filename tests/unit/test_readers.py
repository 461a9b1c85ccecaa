"""ReaderService on a real SQLite file: the rules of SPEC 4.3/4.4/4.7/4.10."""

import pytest
import pytest_asyncio

from bot.readers import (
    MAX_SUBSCRIPTIONS,
    Change,
    Outcome,
    Problem,
    ReaderService,
    Rejected,
    clean_argument,
)
from bot.topics.taxonomy import default_topics_path, load_taxonomy
from storage.chats import ChatRepository
from storage.database import Database
from storage.feeds import FeedRepository
from storage.subscriptions import SubscriptionRepository

CHAT = 1001


@pytest_asyncio.fixture
async def readers(tmp_path):
    db = await Database.open(tmp_path / "bot.sqlite3")
    feeds = FeedRepository(db)
    await feeds.upsert("https://www.niann.ru/rss.xml", "niann", None)
    service = ReaderService(
        ChatRepository(db), SubscriptionRepository(db), feeds, load_taxonomy(default_topics_path())
    )
    await service.register(CHAT, "ru")
    yield service
    await db.close()


async def test_register_keeps_settings_of_a_returning_reader(readers):
    await readers.set_language(CHAT, "en")
    await readers.subscribe(CHAT, "china")
    chat, created = await readers.register(CHAT, "ru")
    assert not created and chat.language == "en"
    assert [s.key for s in await readers.subscriptions(CHAT)] == ["china"]


@pytest.mark.parametrize(
    "argument", ["china", "Китай", "КИТАЙ", "  china  ", "Foreign trade & exports"]
)
async def test_topic_by_id_or_name_in_either_language(readers, argument):
    result = await readers.subscribe(CHAT, argument)
    assert isinstance(result, Change) and result.outcome is Outcome.ADDED
    assert result.target.kind == "topic"


async def test_source_and_keyword(readers):
    source = await readers.subscribe(CHAT, "source:NIANN")
    keyword = await readers.subscribe(CHAT, "T-Hub")
    assert (source.target.kind, source.target.value) == ("source", "niann")
    assert (keyword.target.kind, keyword.target.value) == ("keyword", "T-Hub")
    assert {s.kind for s in await readers.subscriptions(CHAT)} == {"source", "keyword"}


async def test_duplicate_is_reported_not_stored(readers):
    await readers.subscribe(CHAT, "Куба")
    again = await readers.subscribe(CHAT, "  куба ")
    assert again.outcome is Outcome.DUPLICATE
    assert len(await readers.subscriptions(CHAT)) == 1


@pytest.mark.parametrize(
    ("argument", "problem"),
    [
        ("", Problem.EMPTY),
        ("\u200b\u200b", Problem.EMPTY),
        ("x" * 500, Problem.TOO_LONG),
        ("one two three four five six", Problem.TOO_MANY_WORDS),
        ("!!! ???", Problem.NO_LETTERS),
        ("source:", Problem.SOURCE_MISSING),
        ("source:nowhere", Problem.UNKNOWN_SOURCE),
    ],
)
async def test_bad_arguments_change_nothing(readers, argument, problem):
    result = await readers.subscribe(CHAT, argument)
    assert isinstance(result, Rejected) and result.problem is problem
    assert await readers.subscriptions(CHAT) == []


async def test_limit_of_fifty(readers):
    for n in range(MAX_SUBSCRIPTIONS):
        assert (await readers.subscribe(CHAT, f"word{n}")).outcome is Outcome.ADDED
    assert (await readers.subscribe(CHAT, "one more")).outcome is Outcome.LIMIT
    toggle = await readers.toggle_topic(CHAT, "china")
    assert toggle is not None and toggle.subscribed is None
    assert len(await readers.subscriptions(CHAT)) == MAX_SUBSCRIPTIONS


async def test_toggle_topic_and_forged_id(readers):
    assert (await readers.toggle_topic(CHAT, "it")).subscribed is True
    assert (await readers.toggle_topic(CHAT, "it")).subscribed is False
    assert await readers.toggle_topic(CHAT, "no_such_topic") is None


async def test_unsubscribe_by_argument_and_by_id(readers):
    await readers.subscribe(CHAT, "india")
    await readers.subscribe(CHAT, "Дзержинск")
    removed = await readers.unsubscribe(CHAT, "Индия")
    assert removed.outcome is Outcome.REMOVED and removed.target.key == "india"
    assert (await readers.unsubscribe(CHAT, "india")).outcome is Outcome.NOT_FOUND
    keyword = (await readers.subscriptions(CHAT))[0]
    assert await readers.unsubscribe_by_id(CHAT + 1, keyword.subscription_id) is None
    assert await readers.unsubscribe_by_id(CHAT, keyword.subscription_id) is not None
    assert await readers.subscriptions(CHAT) == []


async def test_pause_resume_report_changes(readers):
    assert await readers.set_paused(CHAT, True) is True
    assert await readers.set_paused(CHAT, True) is False
    assert (await readers.chat(CHAT)).paused
    assert await readers.set_paused(CHAT, False) is True


async def test_language_must_be_ours(readers):
    assert await readers.set_language(CHAT, "de") is None
    assert (await readers.chat(CHAT)).language == "ru"


def test_clean_argument_drops_invisible_characters():
    assert clean_argument(" Ку\u200bба \u202e\n  T-Hub\x00 ") == "Куба T-Hub"
