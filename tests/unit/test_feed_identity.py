"""Article identity (SPEC 6.4): canonical links, item keys, normalised titles."""

from datetime import UTC, datetime

import pytest

from bot.feeds.identity import canonical_link, item_key, title_key
from bot.feeds.parse import Item


def make_item(
    *,
    guid: str | None = None,
    link: str | None = None,
    title: str = "Заголовок",
    published: datetime | None = None,
) -> Item:
    return Item(guid=guid, link=link, title=title, summary="", published=published, categories=())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://delovoy-nn.example/news/9900", "https://delovoy-nn.example/news/9900"),
        # scheme and host case, http = https, www. dropped, default ports dropped
        ("HTTP://Delovoy-NN.Example/news/9900", "https://delovoy-nn.example/news/9900"),
        ("http://www.delovoy-nn.example/news/9900", "https://delovoy-nn.example/news/9900"),
        ("https://delovoy-nn.example:443/news/9900", "https://delovoy-nn.example/news/9900"),
        ("http://delovoy-nn.example:80/news/9900", "https://delovoy-nn.example/news/9900"),
        ("http://delovoy-nn.example:8080/a", "https://delovoy-nn.example:8080/a"),
        ("https://delovoy-nn.example", "https://delovoy-nn.example/"),
        # tracking parameters, in any case, the rest kept in order
        (
            "https://delovoy-nn.example/news/9900?utm_source=vk&utm_medium=repost",
            "https://delovoy-nn.example/news/9900",
        ),
        (
            "https://delovoy-nn.example/news.php?id=9902&utm_source=yandex&utm_medium=rss",
            "https://delovoy-nn.example/news.php?id=9902",
        ),
        (
            "https://delovoy-nn.example/news/9906?UTM_SOURCE=partner&ref=rss",
            "https://delovoy-nn.example/news/9906?ref=rss",
        ),
        (
            "https://x.example/a?b=2&fbclid=IwAR0&a=1&gclid=x&yclid=1&ysclid=lq&_openstat=ZGlyZWN0"
            "&mc_cid=c&mc_eid=e&from=20",
            "https://x.example/a?b=2&a=1&from=20",
        ),
        ("https://x.example/a?id=1&&utm_term=x&", "https://x.example/a?id=1"),
        # fragments dropped (but #! addresses content on old AJAX sites)
        (
            "https://delovoy-nn.example/news/9904?utm_campaign=oct&utm_term=export#comments",
            "https://delovoy-nn.example/news/9904",
        ),
        ("https://x.example/#!/news/1", "https://x.example/#!/news/1"),
        # non-ASCII paths and escapes agree
        (
            "https://x.example/новости/1",
            "https://x.example/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/1",
        ),
        (
            "https://x.example/%d0%bd%d0%be%d0%b2%d0%be%d1%81%d1%82%d0%b8/1",
            "https://x.example/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/1",
        ),
        ("https://кремль.рф/news", "https://xn--e1ajeds9e.xn--p1ai/news"),
        ("  https://x.example/a  ", "https://x.example/a"),
        ("http://[::1]:8080/a", "https://[::1]:8080/a"),
        # not an absolute http(s) URL: unchanged
        ("/news/1", "/news/1"),
        ("mailto:desk@x.example", "mailto:desk@x.example"),
        ("http://x.example:notaport/", "http://x.example:notaport/"),
    ],
)
def test_canonical_link(url, expected):
    assert canonical_link(url) == expected


def test_canonical_link_is_idempotent():
    url = "http://WWW.X.example/новости?id=1&utm_source=rss#top"
    once = canonical_link(url)
    assert canonical_link(once) == once


def test_item_key_prefers_guid_then_link_then_hash():
    published = datetime(2025, 10, 20, 12, 20, tzinfo=UTC)
    assert item_key(make_item(guid="vestnik-nn-48223", link="https://x.example/1")) == (
        "guid:vestnik-nn-48223"
    )
    assert item_key(make_item(link="http://www.x.example/1?utm_source=rss")) == (
        "link:https://x.example/1"
    )
    key = item_key(make_item(title="Фармкластер представит разработки", published=published))
    assert key.startswith("hash:")
    assert len(key) == len("hash:") + 40


def test_hash_key_ignores_title_noise_but_not_the_date():
    published = datetime(2025, 10, 20, 12, 20, tzinfo=UTC)
    a = make_item(title="Фармкластер «представит» разработки!", published=published)
    b = make_item(title="  фармкластер представит  разработки", published=published)
    c = make_item(title="Фармкластер представит разработки", published=None)
    assert item_key(a) == item_key(b)
    assert item_key(a) != item_key(c)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Особая экономическая зона «Кулибин»", 'особая экономическая зона "Кулибин"'),
        ("Швейная фабрика в Семёнове", "ШВЕЙНАЯ ФАБРИКА В СЕМЕНОВЕ"),
        ("Экспорт вырос на 9%!", "Экспорт вырос на 9 %"),
        ("🚀 IT-компании представят проекты", "IT компании представят проекты"),
        ("Форум „Россия — Индия“", "Форум Россия Индия"),
        ("Bank\u00a0&\u00a0exporters", "bank exporters"),
    ],
)
def test_title_key_equates_variants(a, b):
    assert title_key(a) == title_key(b)


def test_title_key_keeps_words_and_numbers():
    assert title_key("Экспорт вырос на 9%") != title_key("Экспорт вырос на 19%")
    assert title_key("«Кулибин» — ОЭЗ") == "кулибин оэз"
    assert title_key("") == ""
