"""An item's picture (bot/feeds/images.py): every place feeds put one, and values that
must never reach Telegram as a photo URL."""

from pathlib import Path

import pytest

from bot.feeds.images import MAX_IMAGE_URL, first_img_src, image_url
from bot.feeds.parse import parse_feed

FEEDS = Path(__file__).resolve().parent.parent / "data" / "feeds"
BASE = "https://news.example/rss.xml"


def rss(*items: str) -> bytes:
    body = "".join(
        f"<item><title>t{i}</title><link>https://news.example/{i}</link>{x}</item>"
        for i, x in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Feed</title>{body}</channel></rss>"
    ).encode()


def images(body: bytes, base: str | None = BASE) -> list[str | None]:
    return [item.image for item in parse_feed(body, base_url=base).items]


def test_every_item_of_the_utf8_fixture_has_its_enclosure_picture():
    items = parse_feed((FEEDS / "rss-utf8.xml").read_bytes(), base_url=BASE).items
    assert len(items) == 12
    for item in items:
        assert item.image is not None
        assert item.image.startswith("https://vestnik-nn.example/upload/")
        assert item.image.endswith(".jpg")


def test_each_source_of_a_picture_in_order_of_preference():
    found = images(
        rss(
            '<enclosure url="https://img.example/enc.jpg" type="image/jpeg" length="1"/>'
            '<media:content url="https://img.example/media.jpg" medium="image"/>',
            '<media:content url="https://img.example/media.png" type="image/png"/>'
            '<media:thumbnail url="https://img.example/thumb.jpg"/>',
            '<media:thumbnail url="https://img.example/thumb.jpg"/>'
            "<description>&lt;img src=&quot;https://img.example/html.jpg&quot;&gt;</description>",
            "<description><![CDATA[<p>Text <img src='https://img.example/html.jpg'></p>]]>"
            "</description>",
            '<content:encoded><![CDATA[<figure><img src="https://img.example/full.webp" />'
            "</figure>]]></content:encoded><description>No picture here</description>",
        )
    )
    assert found == [
        "https://img.example/enc.jpg",
        "https://img.example/media.png",
        "https://img.example/thumb.jpg",
        "https://img.example/html.jpg",
        "https://img.example/full.webp",
    ]


def test_atom_enclosure_link_is_a_picture():
    atom = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>A</title><id>urn:a</id><updated>2026-01-01T00:00:00Z</updated>"
        b"<entry><id>urn:1</id><title>One</title><updated>2026-01-01T00:00:00Z</updated>"
        b'<link href="https://news.example/1"/>'
        b'<link rel="enclosure" type="image/png" href="https://img.example/atom.png"/></entry>'
        b"</feed>"
    )
    assert images(atom) == ["https://img.example/atom.png"]


def test_enclosures_and_media_that_are_not_pictures_are_skipped():
    found = images(
        rss(
            '<enclosure url="https://img.example/a.mp3" type="audio/mpeg" length="1"/>',
            '<media:content url="https://img.example/v.mp4" medium="video"/>',
            '<media:content url="https://img.example/untyped.jpeg"/>',
            "",
        )
    )
    assert found == [None, None, "https://img.example/untyped.jpeg", None]


@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)//.jpg",
        "data:image/png;base64,iVBORw0KGgo=",
        "file:///etc/passwd",
        "ftp://img.example/a.jpg",
        "https://",
        "https:///no-host.jpg",
        "https://img.example/a b.jpg",
        "https://img.example/a\x00.jpg",
        "https://img.example/\u202e.jpg",
        "https://img.example/" + "a" * 10_000 + ".jpg",
        "http://[::1",
        "https://[zz]/a.jpg",
        "",
        "   ",
    ],
)
def test_hostile_values_never_become_a_picture(value):
    assert image_url(value, BASE) is None
    assert image_url(value) is None


def test_a_malformed_picture_url_costs_the_item_its_picture_not_the_feed_its_parse():
    """Regression (review): `http://[::1` raised ValueError out of parse_feed, so the
    poller skipped the whole feed on every cycle."""
    found = images(
        rss(
            '<enclosure url="http://[::1" type="image/jpeg" length="1"/>',
            '<enclosure url="https://img.example/ok.jpg" type="image/jpeg" length="1"/>',
        )
    )
    assert found == [None, "https://img.example/ok.jpg"]


@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "https://img.example/" + "a" * 10_000 + ".jpg",
    ],
)
def test_hostile_picture_falls_through_to_the_next_source(value):
    item = (
        f'<enclosure url="{value}" type="image/jpeg" length="1"/>'
        '<media:thumbnail url="https://img.example/safe.jpg"/>'
    )
    assert images(rss(item)) == ["https://img.example/safe.jpg"]


def test_relative_urls_are_resolved_against_the_feed_or_dropped():
    assert image_url("/upload/1.jpg", BASE) == "https://news.example/upload/1.jpg"
    assert image_url("//cdn.example/1.jpg", BASE) == "https://cdn.example/1.jpg"
    assert image_url("/upload/1.jpg") is None  # no base: nothing to resolve against
    assert image_url("upload/1.jpg") is None
    item = "<description>&lt;img src=&quot;/upload/2.jpg&quot;&gt;</description>"
    assert images(rss(item)) == ["https://news.example/upload/2.jpg"]
    assert images(rss(item), base=None) == [None]


def test_a_url_at_the_limit_is_kept_and_one_over_it_is_not():
    head = "https://img.example/"
    at_limit = head + "a" * (MAX_IMAGE_URL - len(head))
    assert image_url(at_limit) == at_limit
    assert image_url(at_limit + "a") is None


def test_first_img_src_reads_only_img_tags():
    assert first_img_src('<p><a href="https://x.example/">x</a><img src="y.png"></p>') == "y.png"
    assert first_img_src("<p>no picture</p>") is None
    assert first_img_src("<img alt='no source'>") is None
    assert first_img_src("<img src='&#106;avascript:x'>") == "javascript:x"  # then refused


def test_markup_html_parser_gives_up_on_costs_the_picture_not_the_feed():
    """`<![foo[` makes html.parser raise: the item keeps its text and has no picture, the
    feed's other items are stored as usual."""
    broken = "<p>Экспорт вырос</p><![foo[ <img src='https://img.example/late.jpg'>"
    assert first_img_src(broken) is None
    assert first_img_src("<img src='https://img.example/a.jpg'><![foo[") == (
        "https://img.example/a.jpg"
    )
    items = parse_feed(
        rss(
            f"<content:encoded><![CDATA[{broken}]]></content:encoded>"
            f"<description><![CDATA[{broken}]]></description>",
            '<enclosure url="https://img.example/ok.jpg" type="image/jpeg" length="1"/>',
        ),
        base_url=BASE,
    ).items
    assert [item.image for item in items] == [None, "https://img.example/ok.jpg"]
    assert items[0].summary.startswith("Экспорт вырос")
