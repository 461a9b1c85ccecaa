from __future__ import annotations

from dataclasses import dataclass

import pytest
from fake_telegram import parse_html

from bot.delivery.render import (
    MAX_MESSAGE_LENGTH,
    id_hashtag,
    link_preview,
    render_html,
    render_plain,
    utf16_len,
    visible_length,
)
from bot.i18n import Catalogue
from bot.topics.taxonomy import default_topics_path, load_taxonomy


@dataclass(frozen=True)
class Item:
    title: str = "Exports to China grew"
    summary: str = "The region shipped more machinery."
    link: str | None = "https://news.example/a?id=1&utm=x"
    source: str | None = "niann"
    topics: tuple[str, ...] = ("china", "trade")


TAGS = {
    ("china", "ru"): "Китай",
    ("china", "en"): "China",
    ("trade", "ru"): "экспорт",
    ("trade", "en"): "export",
}


def tags(topic: str, language: str) -> str:
    """A taxonomy's hashtag lookup in small: the id for what it does not know."""
    return TAGS.get((topic, language), topic)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


@pytest.fixture
def en(catalogue):
    return catalogue.translator("en")


@pytest.fixture
def ru(catalogue):
    return catalogue.translator("ru")


def shown(text: str) -> str:
    """What the reader sees: the fake server parses HTML exactly as strictly as Telegram."""
    plain, _ = parse_html(text)
    return plain


def test_layout_bold_title_summary_source_hashtags_link(en):
    text = render_html(Item(), en, hashtag=tags)
    assert text.startswith("<b>Exports to China grew</b>\n\nThe region shipped more machinery.")
    assert "Source: niann" in text
    assert "#China #export" in text
    assert '<a href="https://news.example/a?id=1&amp;utm=x">Read the article</a>' in text
    _, entities = parse_html(text)
    assert [e["type"] for e in entities] == ["bold", "text_link"]
    assert entities[1]["url"] == "https://news.example/a?id=1&utm=x"


def test_hostile_strings_are_escaped_not_parsed(en):
    item = Item(
        title="<script>alert(1)</script> & <b>Co</b>",
        summary="a < b && c > d &amp; &#x41; <i>",
        source="R&D <news>",
        link='https://x.example/?q="><script>',
    )
    text = render_html(item, en, hashtag=tags)
    assert "<script>" not in text and "<i>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;" in text
    seen = shown(text)  # valid Telegram HTML: the fake would raise otherwise
    assert "<script>alert(1)</script> & <b>Co</b>" in seen
    assert "a < b && c > d &amp; &#x41; <i>" in seen
    assert "Source: R&D <news>" in seen
    _, entities = parse_html(text)
    assert entities[-1]["url"] == 'https://x.example/?q="><script>'


def test_russian_labels(ru):
    seen = shown(render_html(Item(), ru, hashtag=tags))
    assert "Источник: niann" in seen
    assert "Читать статью" in seen
    assert "#Китай #экспорт" in seen


def test_ten_thousand_character_summary_is_cut_to_the_limit(en):
    item = Item(summary="Экспорт растёт. " * 625)  # 10,000 characters
    text = render_html(item, en, hashtag=tags)
    seen = shown(text)
    assert len(seen) <= MAX_MESSAGE_LENGTH
    assert len(seen) > MAX_MESSAGE_LENGTH - 60  # cut, not dropped
    assert seen.startswith("Exports to China grew\n\nЭкспорт")
    assert "…\n\nSource: niann\n#China #export\n🔗 Read the article" in seen
    assert 'href="https://news.example/a?id=1&amp;utm=x"' in text


def test_cut_never_breaks_an_html_entity(en):
    for filler in ("&", "<", "a&b "):
        item = Item(summary=filler * 9000)
        text = render_html(item, en, hashtag=tags)
        assert visible_length(text) <= MAX_MESSAGE_LENGTH
        assert len(shown(text)) <= MAX_MESSAGE_LENGTH  # parses: no half "&amp;"


def test_long_title_is_cut_after_the_summary_is_gone(en):
    item = Item(title="Заголовок " * 600, summary="summary " * 100)
    seen = shown(render_html(item, en, hashtag=tags))
    assert len(seen) <= MAX_MESSAGE_LENGTH
    assert "summary" not in seen
    assert seen.startswith("Заголовок Заголовок")
    assert seen.split("\n\n")[0].endswith("…")
    assert seen.endswith("🔗 Read the article")


def test_length_is_counted_in_utf16_units(en):
    item = Item(summary="😀" * 5000)
    text = render_html(item, en, hashtag=tags)
    assert visible_length(text) <= MAX_MESSAGE_LENGTH
    assert utf16_len(render_plain(item, en, hashtag=tags)) <= MAX_MESSAGE_LENGTH


def test_no_source_no_topics_no_link(en):
    text = render_html(Item(source=None, topics=(), link=None), en, hashtag=tags)
    assert text == "<b>Exports to China grew</b>\n\nThe region shipped more machinery."


def test_only_http_links_are_linked(en):
    item = Item(link="javascript:alert(1)")
    text = render_html(item, en, hashtag=tags)
    assert "javascript" not in text and "<a " not in text
    assert link_preview(item).is_disabled is True


def test_link_preview_shows_the_article():
    options = link_preview(Item())
    assert options.url == "https://news.example/a?id=1&utm=x"
    assert not options.is_disabled
    assert link_preview(Item(link=None)).is_disabled is True


def test_plain_fallback_has_no_markup_and_the_bare_link(en, ru):
    item = Item(title="<b>R&D</b>", summary="x < y")
    text = render_plain(item, en, hashtag=tags)
    assert text == (
        "<b>R&D</b>\n\nx < y\n\nSource: niann\n#China #export\n🔗 https://news.example/a?id=1&utm=x"
    )
    assert "Источник: niann\n#Китай #экспорт\n" in render_plain(item, ru, hashtag=tags)


def test_plain_fallback_is_capped_too(en):
    item = Item(summary="word " * 3000, link="https://news.example/" + "x" * 5000)
    assert utf16_len(render_plain(item, en, hashtag=tags)) <= MAX_MESSAGE_LENGTH
    plain = render_plain(Item(summary="word " * 3000), en, hashtag=tags)
    assert utf16_len(plain) <= MAX_MESSAGE_LENGTH


@pytest.mark.parametrize(
    ("language", "expected"), [("ru", "#Китай #экспорт #gone"), ("en", "#China #export #gone")]
)
def test_hashtags_are_in_the_messages_language(catalogue, language, expected):
    """A topic the lookup does not know (removed from the file) shows its id."""
    t = catalogue.translator(language)
    item = Item(topics=("china", "trade", "gone"))
    assert shown(render_html(item, t, hashtag=tags)).splitlines()[-2] == expected
    assert render_plain(item, t, hashtag=tags).splitlines()[-2] == expected


def test_shipped_taxonomy_gives_the_tags(ru, en):
    taxonomy = load_taxonomy(default_topics_path())
    assert "\n#Китай #экспорт\n" in render_plain(Item(), ru, hashtag=taxonomy.hashtag)
    assert "\n#China #export\n" in render_plain(Item(), en, hashtag=taxonomy.hashtag)
    assert "\n#china #trade\n" in render_plain(Item(), en, hashtag=id_hashtag)
