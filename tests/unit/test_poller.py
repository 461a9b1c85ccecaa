import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

from bot.feeds.parse import Item
from bot.feeds.poller import MAX_BACKOFF, GroupCommit, backoff
from bot.feeds.prepare import classify, is_fresh
from bot.topics.matcher import Matcher, PhraseIndex
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import default_topics_path, load_taxonomy

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_backoff_doubles_from_the_interval_up_to_six_hours():
    interval = timedelta(minutes=5)
    assert [backoff(n, interval) for n in (1, 2, 3)] == [
        timedelta(minutes=5),
        timedelta(minutes=10),
        timedelta(minutes=20),
    ]
    assert backoff(30, interval) == MAX_BACKOFF == timedelta(hours=6)


def item(published, title="Экспорт в Китай вырос", link="https://a.example/1?utm_source=x"):
    return Item(
        guid=None, link=link, title=title, summary="", published=published, categories=()
    )


def test_freshness_by_age_and_undated_items_count_as_new():
    age = timedelta(hours=48)
    assert is_fresh(item(NOW - timedelta(hours=47)), NOW, age)
    assert not is_fresh(item(NOW - timedelta(hours=49)), NOW, age)
    assert is_fresh(item(None), NOW, age)


def test_classify_identifies_and_matches_topics_and_reader_keywords():
    normalizer = Normalizer()
    matcher = Matcher.from_taxonomy(load_taxonomy(default_topics_path()), normalizer)
    keywords: PhraseIndex[str] = PhraseIndex(normalizer)
    keywords.add("китай", "Китай")
    keywords.add("куба", "Куба")
    candidate = classify(item(NOW), matcher, keywords)
    assert candidate.item_key == "link:" + candidate.canonical_link
    assert "utm_source" not in candidate.canonical_link
    assert {"trade", "china"} <= candidate.topics
    assert candidate.keywords == {"китай"}


async def test_group_commit_shares_transactions_and_reports_each_writer_its_error():
    """Unchanged feeds record their success through a group commit: writers that arrive
    while one batch is stored share the next; a failed batch fails each of its writers."""
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def store(records: list[int]) -> None:
        batches.append(records)
        if records[0] in (1, 11):
            await gate.wait()  # a slow batch: the next writers queue up meanwhile
        if 13 in records:
            raise sqlite3.OperationalError("database is locked")

    commit: GroupCommit[int] = GroupCommit(store)
    first = asyncio.create_task(commit.write(1))
    await asyncio.sleep(0)
    others = [asyncio.create_task(commit.write(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, *others)
    assert batches == [[1], [2, 3, 4]]

    gate.clear()
    slow = asyncio.create_task(commit.write(11))
    await asyncio.sleep(0)
    failing = [asyncio.create_task(commit.write(n)) for n in (12, 13)]
    await asyncio.sleep(0)
    gate.set()
    await slow
    results = await asyncio.gather(*failing, return_exceptions=True)
    assert batches[-1] == [12, 13]
    assert all(isinstance(r, sqlite3.OperationalError) for r in results)
    await commit.write(5)  # the next batch is not poisoned
    assert batches[-1] == [5]
