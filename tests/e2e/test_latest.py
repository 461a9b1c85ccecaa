"""/latest (SPEC 4.6) over articles the bot stored from a local feed."""

from datetime import timedelta

import pytest
from feedgen import feeds_toml, now, rss

ITEMS = [
    (
        "1",
        "Китайский автоконцерн откроет сборку в регионе",
        "https://news.example/1",
        now() - timedelta(hours=3),
        "Совместное предприятие с партнёрами из КНР.",
    ),
    (
        "2",
        "Грузовики ГАЗ поедут на Кубу",
        "https://news.example/2",
        now() - timedelta(hours=2),
        "Контракт на поставку техники на Кубу подписан.",
    ),
    (
        "3",
        "Фармкластер <расширяется> & растёт",
        "https://news.example/3?a=1&b=2",
        now() - timedelta(hours=1),
        "Новый завод лекарств.",
    ),
]


@pytest.fixture
async def bot(start_bot, feed_server):
    feed_server.serve("/news.xml", rss(*ITEMS))
    proc = await start_bot(
        env={"POLL_INTERVAL_SECONDS": "1"}, feeds=feeds_toml(feed_server, "/news.xml")
    )
    await feed_server.wait_for_hits("/news.xml", 2)  # the first cycle has stored them
    return proc


async def test_latest_by_topic_keyword_and_source(bot, reader):
    ann = reader()
    china = (await ann.ask("/latest china"))["text"]
    assert china.startswith("<b>Latest: 🇨🇳 China</b>\n1. ")
    assert '<a href="https://news.example/1">Китайский автоконцерн' in china
    assert "Кубу" not in china

    cuba = (await ann.ask("/latest Куба"))["text"]
    assert "Грузовики ГАЗ поедут на Кубу" in cuba and "Китайский" not in cuba

    source = (await ann.ask("/latest source:news.xml"))["text"]
    lines = source.splitlines()[1:]
    assert len(lines) == 3
    assert "Фармкластер" in lines[0] and "Китайский" in lines[2]  # newest first
    assert "&lt;расширяется&gt; &amp; растёт" in lines[0]
    assert 'href="https://news.example/3?a=1&amp;b=2"' in lines[0]


async def test_latest_for_own_subscriptions(bot, reader):
    olga = reader(language_code="ru")
    assert "У вас пока нет подписок" in (await olga.ask("/latest"))["text"]
    await olga.ask("/subscribe pharma")
    await olga.ask("/subscribe Куба")
    text = (await olga.ask("/latest"))["text"]
    assert text.startswith("<b>Свежее по вашим подпискам</b>")
    lines = text.splitlines()[1:]
    assert len(lines) == 2
    assert "Фармкластер" in lines[0] and "Кубу" in lines[1]


async def test_latest_with_nothing_found_or_bad_argument(bot, reader):
    ann = reader()
    assert "Nothing yet for «Антарктида»" in (await ann.ask("/latest Антарктида"))["text"]
    assert "at most 64 characters" in (await ann.ask("/latest " + "x" * 100))["text"]
