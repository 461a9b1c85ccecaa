"""OPML export and the defensive import (SPEC 8.6)."""

import pytest

from bot.opml import MAX_FEEDS, OpmlError, Outline, parse_opml, render_opml


def test_round_trip_keeps_urls_and_names():
    feeds = [("https://a.example/rss?x=1&y=2", "a & b"), ("http://b.example/feed", "b<c>")]
    assert parse_opml(render_opml(feeds)) == [Outline(url, name) for url, name in feeds]


def test_nested_outlines_and_text_fallback():
    data = (
        b'<opml version="1.0"><body><outline text="News">'
        b'<outline text="One" xmlUrl=" https://one.example/rss "/>'
        b'<outline text="no feed here"/></outline></body></opml>'
    )
    assert parse_opml(data) == [Outline("https://one.example/rss", "One")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"plain text", "not XML"),
        (b"<rss><channel/></rss>", "not OPML"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><opml/>', "DOCTYPE"),
        (b'<opml><body><outline xmlUrl="&a;"/></body></opml><!ENTITY', "DOCTYPE"),
        (b"<opml>" + b" " * (1024 * 1024) + b"</opml>", "over 1024 KB"),
        (
            b"<opml><body>"
            + b'<outline xmlUrl="https://x.example/"/>' * (MAX_FEEDS + 1)
            + b"</body></opml>",
            f"more than {MAX_FEEDS}",
        ),
    ],
)
def test_hostile_or_broken_files_are_refused(data, reason):
    with pytest.raises(OpmlError) as caught:
        parse_opml(data)
    assert reason in caught.value.reason
