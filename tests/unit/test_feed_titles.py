"""The source readers see (SPEC 6.0): FEEDS_FILE's `title`, else the feed's own <title>
from its last good fetch, else its short `name`."""

from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.feeds.catalog import load_feeds_file
from storage.articles import ArticleRepository
from storage.feeds import FeedRepository, Success

STAMP = "2025-03-01T12:00:00+00:00"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_feeds_file_title_is_optional_and_trimmed(tmp_path):
    specs = load_feeds_file(
        write(
            tmp_path,
            '[[feeds]]\nurl = "https://niann.example/rss"\nname = "niann"\n'
            'title = "  НИА   «Нижний Новгород» "\n'
            '[[feeds]]\nurl = "https://other.example/rss"\n',
        )
    )
    assert [(s.name, s.title) for s in specs] == [
        ("niann", "НИА «Нижний Новгород»"),
        ("other.example", None),
    ]


@pytest.mark.parametrize("title", ['""', '"   "', "42", '["a"]'])
def test_a_title_that_is_not_text_is_refused_naming_the_feed(tmp_path, title):
    path = write(tmp_path, f'[[feeds]]\nurl = "https://niann.example/rss"\ntitle = {title}\n')
    with pytest.raises(ConfigError, match="feed #1: title"):
        load_feeds_file(path)


def test_the_shipped_feeds_file_names_its_outlets():
    shipped = Path(__file__).resolve().parents[2] / "bot" / "data" / "feeds.toml"
    specs = load_feeds_file(shipped)
    assert all(spec.title for spec in specs)
    assert next(s for s in specs if s.name == "niann").title == "НИА «Нижний Новгород»"


async def test_the_shown_source_follows_title_then_own_title_then_name(db):
    feeds = FeedRepository(db)
    feed = await feeds.upsert("https://a.example/rss", "a", None)
    assert feed.display_title == "a"  # before the first fetch

    async def shown() -> str | None:
        (article,) = await ArticleRepository(db).latest(limit=1)
        return article.source

    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO articles (feed_id, title, title_key, summary, stored_at)"
            " VALUES (?, 'Экспорт вырос', 'экспорт вырос', '', ?)",
            (feed.feed_id, STAMP),
        )
    assert await shown() == "a"
    await feeds.record_successes([Success(feed.feed_id, STAMP, None, None, None, " Вестник\nНН ")])
    assert (await feeds.get(feed.feed_id)).display_title == "Вестник НН"
    assert await shown() == "Вестник НН"
    # A 304 parses nothing: the title stays; a blank <title> does not erase it either.
    await feeds.record_successes([Success(feed.feed_id, STAMP, None, None, None, None)])
    await feeds.record_successes([Success(feed.feed_id, STAMP, None, None, None, "  ")])
    assert (await feeds.get(feed.feed_id)).feed_title == "Вестник НН"
    # FEEDS_FILE's title wins; seeding again without it returns to the feed's own.
    await feeds.upsert("https://a.example/rss", "a", None, title="Вестник Нижнего")
    assert await shown() == "Вестник Нижнего"
    await feeds.upsert("https://a.example/rss", "a", None)
    assert await shown() == "Вестник НН"
