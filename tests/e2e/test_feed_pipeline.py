"""The poll job end to end (SPEC 6): the real bot polls a local feed server.

Poll cycles run one after another (max_instances=1), so "the server saw request n+1 of
a feed" proves cycle n finished: tests wait on hits, never on time.
"""

from datetime import timedelta

import pytest
from feed_server import read_fixture
from feedgen import feeds_toml, now, rss
from harness import query
from pg_server import BACKENDS

FAST = {"POLL_INTERVAL_SECONDS": "1"}


async def polled_after_change(server, *paths):
    """Wait until every path was fetched after this call and that poll cycle finished.

    Hit n+1 is served the current content; hit n+2 comes from a later cycle, so the
    cycle that stored hit n+1 is complete (cycles never overlap)."""
    counts = {path: server.hits(path) for path in paths}
    for path, count in counts.items():
        await server.wait_for_hits(path, count + 2)


CHINA_ITEM = (
    "china-1",
    "Китайский автоконцерн откроет сборку в Нижегородской области",
    "https://news.example/china-1?utm_source=rss",
    None,
    "Совместное предприятие с партнёрами из КНР локализует производство.",
)


def item(template, published):
    guid, title, link, _, summary = template
    return guid, title, link, published, summary


async def test_backlog_is_stored_not_pushed_and_new_items_are_queued(
    start_bot, reader, feed_server
):
    old = item(
        ("old-1", "Экспорт станков вырос", "https://news.example/old-1", None, "Экспорт."),
        now() - timedelta(hours=1),
    )
    feed_server.serve("/a.xml", rss(old))
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, "/a.xml"))
    ann = reader()
    await ann.ask("/subscribe china")
    await ann.ask("/subscribe trade")
    await feed_server.wait_for_hits("/a.xml", 2)
    assert query(bot, "SELECT title, pushed FROM articles") == [("Экспорт станков вырос", 0)]
    assert query(bot, "SELECT count(*) FROM outbox") == [(0,)]

    feed_server.replace("/a.xml", rss(item(CHINA_ITEM, now()), old))
    await polled_after_change(feed_server, "/a.xml")
    rows = query(bot, "SELECT title, topics, pushed FROM articles ORDER BY article_id")
    assert len(rows) == 2
    title, topics, pushed = rows[1]
    assert title == CHINA_ITEM[1] and pushed == 1
    assert {"china", "localization"} <= set(topics.split())
    # Matched by two topics, queued once, and pushed.
    assert query(bot, "SELECT chat_id FROM outbox") == [(ann.chat_id,)]
    push = await ann.expect_message(contains=CHINA_ITEM[1])
    assert "#China" in push["text"]  # the reader's language: English


async def test_keyword_and_source_subscriptions_and_paused_readers(start_bot, reader, feed_server):
    feed_server.serve("/a.xml", rss())
    feed_server.serve("/b.xml", rss())
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, "/a.xml", "/b.xml"))
    by_keyword, by_source, paused, unrelated = reader(), reader(), reader(), reader()
    await by_keyword.ask("/subscribe Нижегородская область")
    await by_source.ask("/subscribe source:b.xml")
    await paused.ask("/subscribe china")
    await paused.ask("/pause")
    await unrelated.ask("/subscribe pharma")
    await feed_server.wait_for_hits("/a.xml", 2)

    feed_server.replace("/a.xml", rss(item(CHINA_ITEM, now())))
    feed_server.replace(
        "/b.xml",
        rss(("b-1", "Погода в выходные", "https://b.example/1", now(), "Солнечно.")),
    )
    await polled_after_change(feed_server, "/a.xml", "/b.xml")
    rows = query(bot, "SELECT o.chat_id, a.title FROM outbox o JOIN articles a USING (article_id)")
    assert sorted(rows) == sorted(
        [(by_keyword.chat_id, CHINA_ITEM[1]), (by_source.chat_id, "Погода в выходные")]
    )


async def test_conditional_get_answers_304_and_nothing_is_parsed(start_bot, feed_server):
    feed_server.serve("/a.xml", rss(item(CHINA_ITEM, now())), etag='"v1"')
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, "/a.xml"))
    await feed_server.wait_for_hits("/a.xml", 3)
    second = feed_server.requests_for("/a.xml")[1]
    assert second.headers.get("If-None-Match") == '"v1"'
    assert "feed a.xml: unchanged (HTTP 304), not parsed" in bot.log_text()
    assert query(bot, "SELECT count(*) FROM articles") == [(1,)]


async def test_unchanged_body_without_validators_is_not_parsed(start_bot, feed_server):
    feed_server.serve("/a.xml", rss(item(CHINA_ITEM, now())), etag=None)
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, "/a.xml"))
    await feed_server.wait_for_hits("/a.xml", 3)
    assert "feed a.xml: unchanged (HTTP 200), not parsed" in bot.log_text()


async def test_failing_feed_backs_off_and_recovers_while_others_flow(
    start_bot, reader, feed_server
):
    feed_server.serve("/bad.xml", b"oops", status=500)
    feed_server.serve("/good.xml", rss())
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, "/bad.xml", "/good.xml"))
    ann = reader()
    await ann.ask("/subscribe china")
    await feed_server.wait_for_hits("/bad.xml", 2)
    failures, error = query(bot, "SELECT failures, last_error FROM feeds WHERE name = 'bad.xml'")[0]
    assert failures >= 1 and error == "HTTP 500"

    # The good feed keeps flowing, polled more often than the backed-off one.
    feed_server.replace("/good.xml", rss(item(CHINA_ITEM, now())))
    await polled_after_change(feed_server, "/good.xml")
    assert feed_server.hits("/good.xml") > feed_server.hits("/bad.xml")
    assert query(bot, "SELECT count(*) FROM outbox") == [(1,)]

    feed_server.serve("/bad.xml", rss())
    await polled_after_change(feed_server, "/bad.xml")
    failures, success = query(
        bot, "SELECT failures, last_success_at FROM feeds WHERE name = 'bad.xml'"
    )[0]
    assert failures == 0 and success is not None


ENCODED = [
    ("rss-cp1251.xml", "application/rss+xml", "Особая экономическая зона «Кулибин»"),
    (
        "rss-koi8r-nodecl.xml",
        "application/rss+xml; charset=koi8-r",
        "Нижегородский картон отправится в Узбекистан",
    ),
    ("rss-utf8.xml", "application/rss+xml", "Айти-компании региона сэкономили"),
]


async def test_cyrillic_from_each_encoding(start_bot, feed_server):
    """One feed per encoding, on one bot (a bot start costs seconds of the suite)."""
    paths = [f"/f{n}.xml" for n in range(len(ENCODED))]
    for path, (fixture, content_type, _) in zip(paths, ENCODED, strict=True):
        feed_server.serve(path, read_fixture(fixture), content_type=content_type)
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, *paths))
    for path in paths:
        await feed_server.wait_for_hits(path, 2)
    for path, (fixture, _, expected) in zip(paths, ENCODED, strict=True):
        titles = [
            title
            for (title,) in query(
                bot,
                "SELECT a.title FROM articles a JOIN feeds f ON f.feed_id = a.feed_id"
                " WHERE f.name = ?",
                (path.strip("/"),),
            )
        ]
        assert any(title.startswith(expected) for title in titles), (fixture, titles)
        assert not any(mark in " ".join(titles) for mark in ("Ð", "Ã", "â€", "\ufffd")), fixture


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_same_story_in_two_feeds_is_one_article(start_bot, reader, feed_server):
    feed_server.serve("/a.xml", rss())
    feed_server.serve("/b.xml", rss())
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, "/a.xml", "/b.xml"))
    ann = reader()
    await ann.ask("/subscribe china")
    await feed_server.wait_for_hits("/a.xml", 2)
    story = item(CHINA_ITEM, now())
    feed_server.replace("/a.xml", rss(story))
    _, title, _, published, summary = story
    feed_server.replace(
        "/b.xml",
        rss(
            ("other-guid", title, "https://news.example/china-1?utm_medium=tg", published, summary)
        ),
    )
    await polled_after_change(feed_server, "/a.xml", "/b.xml")
    assert query(bot, "SELECT count(*) FROM articles") == [(1,)]
    assert query(bot, "SELECT count(*) FROM feed_items") == [(2,)]
    assert query(bot, "SELECT count(*) FROM outbox") == [(1,)]


async def test_old_items_in_a_known_feed_are_stored_but_never_pushed(
    start_bot, reader, feed_server
):
    feed_server.serve("/a.xml", rss())
    bot = await start_bot(
        env={**FAST, "MAX_ITEM_AGE_HOURS": "48"}, feeds=feeds_toml(feed_server, "/a.xml")
    )
    ann = reader()
    await ann.ask("/subscribe china")
    await feed_server.wait_for_hits("/a.xml", 2)
    feed_server.replace("/a.xml", rss(item(CHINA_ITEM, now() - timedelta(hours=49))))
    await polled_after_change(feed_server, "/a.xml")
    assert query(bot, "SELECT pushed FROM articles") == [(0,)]
    assert query(bot, "SELECT count(*) FROM outbox") == [(0,)]


async def test_broken_feeds_never_stop_the_others(start_bot, feed_server):
    feed_server.serve("/malformed.xml", read_fixture("rss-malformed.xml"))
    feed_server.serve("/html.xml", read_fixture("not-a-feed.html"), content_type="text/html")
    feed_server.serve("/missing.xml", b"", status=404)
    feed_server.serve("/good.xml", read_fixture("atom.xml"), content_type="application/atom+xml")
    paths = ("/malformed.xml", "/html.xml", "/missing.xml", "/good.xml")
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, *paths))
    await feed_server.wait_for_hits("/good.xml", 2)
    errors = dict(query(bot, "SELECT name, last_error FROM feeds"))
    assert errors["malformed.xml"].startswith("malformed XML")
    assert errors["html.xml"].startswith("not a feed")
    assert errors["missing.xml"] == "HTTP 404"
    assert errors["good.xml"] is None
    assert query(bot, "SELECT count(*) FROM articles")[0][0] == 8


async def test_empty_first_response_does_not_prime_a_new_feed(start_bot, reader, feed_server):
    """Regression (review): an empty 200 looked 'unchanged' (no hash either side), marked
    the new feed primed without storing anything, and its backlog was pushed next."""
    feed_server.serve("/a.xml", b"", etag=None)
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, "/a.xml"))
    ann = reader()
    await ann.ask("/subscribe china")
    await feed_server.wait_for_hits("/a.xml", 2)
    assert query(bot, "SELECT primed, last_error FROM feeds") == [(0, "empty document")]
    feed_server.replace("/a.xml", rss(item(CHINA_ITEM, now())))
    await polled_after_change(feed_server, "/a.xml")
    assert query(bot, "SELECT pushed FROM articles") == [(0,)]
    assert query(bot, "SELECT count(*) FROM outbox") == [(0,)]
