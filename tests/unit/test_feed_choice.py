"""/addfeed's list of a page's feeds (SPEC 8.3): rendered, then read back from the message
text on a press; forged or stale data reads back as nothing."""

import html
import re

from bot.admin import FeedChoice, NoFeedFound
from bot.feeds.discover import MAX_CANDIDATES, MAX_URL_CHARS
from bot.feeds.parse import ParsedFeed
from bot.feeds.probe import Discovery, FoundFeed
from bot.i18n import Catalogue
from bot.ui.callbacks import FeedPick
from bot.ui.feed_views import choice_keyboard, choice_text, line_tag, not_found_text, picked

PAGE = "https://site.example/"


def as_telegram_shows(text: str) -> str:
    """The message text Telegram gives back: tags gone, entities decoded."""
    return html.unescape(re.sub(r"</?[a-z]+>", "", text))


def choice(*urls: str, name: str | None = None, title: str = "Лента") -> FeedChoice:
    return FeedChoice(PAGE, tuple(FoundFeed(url, ParsedFeed(title, ())) for url in urls), name)


def presses(found: FeedChoice) -> list[FeedPick]:
    keyboard = choice_keyboard(found)
    return [FeedPick.unpack(row[0].callback_data) for row in keyboard.inline_keyboard]


def test_each_button_reads_back_its_own_url_and_name():
    t = Catalogue.load().translator("ru")
    found = choice(PAGE + "rss.xml", PAGE + "a.xml?x=1&y=<2>", name="Лента_1")
    text = as_telegram_shows(choice_text(t, found))
    assert [picked(text, pick) for pick in presses(found)] == [
        (PAGE + "rss.xml", "Лента_1"),
        (PAGE + "a.xml?x=1&y=<2>", "Лента_1"),
    ]
    labels = [row[0].text for row in choice_keyboard(found).inline_keyboard]
    assert labels == ["1. Лента", "2. Лента"]


def test_forged_or_stale_data_reads_back_as_nothing():
    t = Catalogue.load().translator("en")
    found = choice(PAGE + "one.xml", PAGE + "two.xml")
    text = as_telegram_shows(choice_text(t, found))
    first, second = presses(found)
    assert picked(text, first) == (PAGE + "one.xml", None)
    assert picked(text, FeedPick(number=2, tag=first.tag)) is None  # index altered
    assert picked(text, FeedPick(number=3, tag=second.tag)) is None  # no such line
    assert picked(text, FeedPick(number=1, tag="0" * 8)) is None  # tag altered
    other = as_telegram_shows(choice_text(t, choice(PAGE + "three.xml", PAGE + "four.xml")))
    assert picked(other, first) is None  # a button of another list
    assert picked("Feed added.", first) is None and picked(None, first) is None
    assert line_tag(PAGE + "one.xml", None) != line_tag(PAGE + "one.xml", "one")


def test_the_longest_list_fits_one_telegram_message_and_its_buttons_their_64_bytes():
    t = Catalogue.load().translator("ru")
    long_url = "https://site.example/" + "я" * (MAX_URL_CHARS - 21)
    urls = [f"{long_url[:-2]}{n:02}" for n in range(MAX_CANDIDATES)]
    found = choice(*urls, name="ж" * 40, title="T" * 500)
    text = as_telegram_shows(choice_text(t, found))
    assert len(text.encode("utf-16-le")) // 2 <= 4096
    for row in choice_keyboard(found).inline_keyboard:
        assert len(row[0].callback_data.encode()) <= 64 and len(row[0].text) <= 52


def test_no_feed_found_names_what_was_tried():
    t = Catalogue.load().translator("en")
    tried = tuple((f"{PAGE}{'x' * 1000}{n}", "HTTP 404 " * 100) for n in range(MAX_CANDIDATES))
    discovery = Discovery("not a feed (an HTML page)", False, (), tried)
    text = not_found_text(t, NoFeedFound(PAGE, discovery))
    assert "not a feed (an HTML page)" in text and "usual addresses" in text
    assert text.count("• ") == MAX_CANDIDATES
    assert len(as_telegram_shows(text)) <= 4096
