"""Admins' feeds, channels and OPML (SPEC 8.3, 8.4, 8.6) and editors' /stats (SPEC 8.5)."""

from datetime import UTC, datetime

import pytest
from feed_server import read_fixture
from feedgen import now, rss
from harness import buttons, find_button, query

ADMIN = 900
CHANNEL = -1001000000077
GROUP = -4000000001
SUPERGROUP = -1001000000999


def site_page(*feeds: str) -> bytes:
    """A site's home page naming `feeds` (hrefs) in its head; the body links are no feeds."""
    links = "".join(f'<link rel="alternate" type="application/rss+xml" href="{f}">' for f in feeds)
    return (
        f"<!doctype html><html><head><title>Вестник</title>{links}</head>"
        "<body><a href='/rss.xml'>RSS</a></body></html>"
    ).encode()


@pytest.fixture
def bot_env():
    return {"ADMIN_IDS": str(ADMIN)}


async def test_addfeed_accepts_a_feed_and_refuses_what_is_not_one(start_bot, reader, feed_server):
    feed_server.serve("/good.xml", read_fixture("rss-utf8.xml"))
    feed_server.serve("/page.html", site_page(), content_type="text/html")
    bot = await start_bot()
    admin = reader(ADMIN)

    added = await admin.ask(f"/addfeed {feed_server.url('/good.xml')} good")
    title = "Нижегородский экономический вестник — все новости"  # the feed's own <title>
    assert f"Feed <b>{title}</b> added" in added["text"]
    assert "<code>source:good</code>" in added["text"]
    assert query(bot, "SELECT feed_title FROM feeds") == [(title,)]
    page = await admin.ask(f"/addfeed {feed_server.url('/page.html')}")
    assert "is not a feed: not a feed (an HTML page)" in page["text"]
    local = await admin.ask("/addfeed file:///etc/passwd")
    assert "only http and https URLs are allowed" in local["text"]
    ftp = await admin.ask("/addfeed ftp://example.org/rss.xml")
    assert "only http and https URLs are allowed" in ftp["text"]
    again = await admin.ask(f"/addfeed {feed_server.url('/good.xml')}")
    assert "already in the list" in again["text"]
    assert query(bot, "SELECT name, url FROM feeds") == [("good", feed_server.url("/good.xml"))]

    listing = await admin.ask("/feeds")
    assert "good" in listing["text"] and "items stored" in listing["text"]
    assert f"good «{title}»" in listing["text"]  # the title readers see, beside the name
    removed = await admin.ask("/delfeed good")
    assert "removed" in removed["text"]
    assert query(bot, "SELECT count(*) FROM feeds") == [(0,)]
    unknown = await admin.ask("/delfeed 42")
    assert "No feed 42" in unknown["text"]


async def test_addfeed_finds_a_pages_feeds_and_adds_the_one_pressed(start_bot, reader, feed_server):
    """SPEC 8.3: two declared feeds are offered as buttons; only an admin's genuine press
    adds one."""
    feed_server.serve(
        "/site/",
        site_page("../feeds/a.xml", "/feeds/b.xml", "javascript:x()"),
        content_type="text/html",
    )
    feed_server.serve("/feeds/a.xml", rss(title="Лента А"))
    feed_server.serve("/feeds/b.xml", rss(title="Лента Б"))
    bot = await start_bot()
    admin, bob = reader(ADMIN), reader(901)

    choice = await admin.ask(f"/addfeed {feed_server.url('/site/')} vestnik")
    assert "2 feeds found" in choice["text"]
    assert [text for text, _ in buttons(choice)] == ["1. Лента А", "2. Лента Б"]
    stored = admin.stored_message(choice)
    _, first = find_button(stored, "Лента А")
    _, second = find_button(stored, "Лента Б")

    await admin.press(stored, data=first.rsplit(":", 1)[0] + ":00000000")  # tag altered
    assert "does not match" in (await admin.expect_callback_answer()).params["text"]
    await admin.press(stored, data=second.replace("addf:2:", "addf:1:"))  # number altered
    assert "does not match" in (await admin.expect_callback_answer()).params["text"]
    await bob.press(stored, data=second)  # not an admin
    assert "for admins" in (await bob.expect_callback_answer()).params["text"]
    await admin.barrier()
    assert query(bot, "SELECT count(*) FROM feeds") == [(0,)]

    await admin.press(stored, "Лента Б")
    await admin.expect_callback_answer()
    added = await admin.expect_message(contains="added")
    assert "Feed <b>Лента Б</b> added" in added["text"] and "source:vestnik" in added["text"]
    assert query(bot, "SELECT url, name, feed_title FROM feeds") == [
        (feed_server.url("/feeds/b.xml"), "vestnik", "Лента Б")
    ]
    await admin.press(stored, "Лента Б")  # the list stays, a second press adds nothing
    assert "already in the list" in (await admin.expect_message())["text"]
    listing = (await admin.ask("/feeds"))["text"]
    assert "vestnik" in listing and feed_server.url("/feeds/a.xml") not in listing
    # A pressed feed that has become a page is refused as it is: no second search.
    feed_server.serve("/feeds/a.xml", site_page("/feeds/c.xml"), content_type="text/html")
    feed_server.serve("/feeds/c.xml", rss(title="Лента В"))
    await admin.press(stored, "Лента А")
    await admin.expect_callback_answer()
    assert "not a feed (an HTML page)" in (await admin.expect_message())["text"]
    assert feed_server.hits("/feeds/c.xml") == 0
    assert query(bot, "SELECT count(*) FROM feeds") == [(1,)]


async def test_addfeed_on_a_page_without_feeds_says_what_it_tried_then_finds_rss_xml(
    start_bot, reader, feed_server
):
    feed_server.serve("/", site_page(), content_type="text/html")
    bot = await start_bot()
    admin = reader(ADMIN)

    refused = (await admin.ask(f"/addfeed {feed_server.url('/')}"))["text"]
    assert "no feed found" in refused and "not a feed (an HTML page)" in refused
    for path in ("/rss", "/feed", "/rss.xml", "/feed.xml"):
        assert f"{feed_server.url(path)}: HTTP 404" in refused
    assert query(bot, "SELECT count(*) FROM feeds") == [(0,)]

    feed_server.serve("/rss.xml", rss(title="Главная лента"))
    added = await admin.ask(f"/addfeed {feed_server.url('/')}")
    assert "Feed <b>Главная лента</b> added" in added["text"]
    assert feed_server.url("/rss.xml") in added["text"]  # the address found, not the page
    assert query(bot, "SELECT url, feed_title FROM feeds") == [
        (feed_server.url("/rss.xml"), "Главная лента")
    ]
    # The page again: the one feed it leads to is known, and is not renamed.
    names = query(bot, "SELECT name FROM feeds")
    again = (await admin.ask(f"/addfeed {feed_server.url('/')} other"))["text"]
    assert "already in the list" in again
    assert query(bot, "SELECT name FROM feeds") == names
    # A feed broken for the moment is refused as it is, not swapped for another address.
    feed_server.serve("/broken.xml", b"<?xml version='1.0'?><rss version='2.0'><channel><item>")
    feed_server.serve("/feed.xml", rss(title="Другая лента"))
    hits = feed_server.hits("/feed.xml")  # the page's searches above asked for it too
    broken = (await admin.ask(f"/addfeed {feed_server.url('/broken.xml')}"))["text"]
    assert "malformed XML" in broken and feed_server.hits("/feed.xml") == hits
    assert query(bot, "SELECT count(*) FROM feeds") == [(1,)]


async def test_feeds_shows_health_and_items_stored(start_bot, reader, feed_server):
    feed_server.serve("/a.xml", rss(("a-1", "Экспорт вырос", "https://n.example/a1", now(), "x")))
    feed_server.serve("/down.xml", b"oops", status=500)
    feeds = (
        f'[[feeds]]\nurl = "{feed_server.url("/a.xml")}"\nname = "alpha"\n'
        f'[[feeds]]\nurl = "{feed_server.url("/down.xml")}"\nname = "down"\n'
    )
    await start_bot(env={"POLL_INTERVAL_SECONDS": "1"}, feeds=feeds)
    await feed_server.wait_for_hits("/a.xml", 2)
    await feed_server.wait_for_hits("/down.xml", 1)
    text = (await reader(ADMIN).ask("/feeds"))["text"]
    alpha, down = text.split("alpha", 1)[1].split("down", 1)
    assert "items stored: 1" in alpha and "never" not in alpha
    assert "last success: never" in down and "HTTP 500" in down


async def test_channel_add_checks_rights_and_keeps_settings_after_migration(start_bot, reader, tg):
    bot = await start_bot()
    admin = reader(ADMIN)
    tg.register_chat(CHANNEL, "channel", title="Agency", username="agency_news")
    tg.set_member(CHANNEL, tg.bot_id, "member")
    refused = await admin.ask("/channel add @agency_news china")
    assert "may not post in Agency" in refused["text"]
    assert query(bot, "SELECT count(*) FROM chats WHERE target = 1") == [(0,)]
    tg.set_member(CHANNEL, tg.bot_id, "administrator")
    assert "#china" in (await admin.ask("/channel add @agency_news china trade"))["text"]
    assert "Unknown topics" in (await admin.ask("/channel add @agency_news chnia"))["text"]

    tg.register_chat(GROUP, "group", title="Newsroom")
    assert "all topics" in (await admin.ask(f"/channel add {GROUP}"))["text"]
    listing = (await admin.ask("/channels"))["text"]
    assert "@agency_news" in listing and "#china #trade" in listing and "Newsroom" in listing

    tg.queue_update(tg.group_message(ADMIN, GROUP, "x", chat_type="group"))
    update = tg.group_message(ADMIN, GROUP, "", chat_type="group")
    del update["message"]["text"]
    update["message"]["migrate_to_chat_id"] = SUPERGROUP
    tg.queue_update(update)
    await admin.barrier()
    assert query(bot, "SELECT kind, target FROM chats WHERE chat_id = ?", (SUPERGROUP,)) == [
        ("supergroup", 1)
    ]
    assert query(bot, "SELECT count(*) FROM chats WHERE chat_id = ?", (GROUP,)) == [(0,)]

    removed = await admin.ask("/channel remove @agency_news")
    assert "No longer posting to @agency_news" in removed["text"]
    assert query(bot, "SELECT chat_id FROM chats WHERE target = 1") == [(SUPERGROUP,)]


async def import_file(tg, admin, content, name="feeds.opml"):
    tg.queue_update(tg.private_document(admin.user_id, content, name, caption="/import"))
    return await admin.expect_message()


async def test_opml_round_trip_into_a_fresh_bot(start_bot, reader, tg):
    feeds = (
        '[[feeds]]\nurl = "https://www.niann.ru/rss.xml"\nname = "niann"\n'
        '[[feeds]]\nurl = "https://www.vremyan.ru/rss/news.rss?a=1&b=2"\nname = "vremyan"\n'
    )
    first = await start_bot(feeds=feeds)
    admin = reader(ADMIN)
    await admin.send("/export")
    document = await admin.expect_document()
    opml = document.params["document"].content
    assert document.params["caption"] == "Feeds as OPML (2)."
    assert b"<opml" in opml and b"a=1&amp;b=2" in opml
    await first.stop()

    second = await start_bot()
    report = await import_file(tg, admin, opml)
    assert "2 added, 0 already there, 0 invalid" in report["text"]
    assert query(second, "SELECT url, name FROM feeds ORDER BY url") == query(
        first, "SELECT url, name FROM feeds ORDER BY url"
    )
    again = await import_file(tg, admin, opml)
    assert "0 added, 2 already there" in again["text"]


HOSTILE = {
    "not XML": b"this is not xml at all",
    "entity expansion": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><opml><body>'
        b'<outline xmlUrl="https://x.example/&lol2;"/></body></opml>'
    ),
    "too many": b"<opml><body>"
    + b"".join(b'<outline xmlUrl="https://x.example/%d"/>' % i for i in range(600))
    + b"</body></opml>",
    "too big": b"<opml><body>" + b" " * (1024 * 1024 + 1) + b"</body></opml>",
}


async def test_hostile_opml_is_refused_and_adds_nothing(start_bot, reader, tg):
    bot = await start_bot()  # one bot for every kind: a bot start costs seconds
    admin = reader(ADMIN)
    for kind, body in HOSTILE.items():
        reply = await import_file(tg, admin, body)
        assert "The OPML file was refused" in reply["text"], kind
        assert query(bot, "SELECT count(*) FROM feeds") == [(0,)], kind


async def test_import_counts_invalid_urls(start_bot, reader, tg):
    bot = await start_bot()
    admin = reader(ADMIN)
    opml = (
        b'<?xml version="1.0"?><opml version="2.0"><body><outline text="group">'
        b'<outline text="ok" xmlUrl="https://ok.example/rss"/>'
        b'<outline text="local" xmlUrl="file:///etc/passwd"/></outline></body></opml>'
    )
    reply = await import_file(tg, admin, opml)
    assert "1 added, 0 already there, 1 invalid" in reply["text"]
    assert "file:///etc/passwd" in reply["text"]
    assert query(bot, "SELECT url, name FROM feeds") == [("https://ok.example/rss", "ok")]


async def test_stats_match_the_database_after_a_scripted_session(
    start_bot, reader, tg, feed_server
):
    feed_server.serve("/a.xml", rss(("a-1", "Экспорт вырос", "https://n.example/a1", now(), "x")))
    feeds = f'[[feeds]]\nurl = "{feed_server.url("/a.xml")}"\nname = "alpha"\n'
    bot = await start_bot(feeds=feeds)
    await feed_server.wait_for_hits("/a.xml", 1)
    ann, bob, cid, dan = reader(), reader(), reader(), reader()
    await ann.ask("/subscribe china")
    await ann.ask("/subscribe Дзержинск")
    await bob.ask("/subscribe china")
    await bob.ask("/subscribe дзержинск")
    await bob.ask("/pause")
    await cid.ask("/subscribe trade")
    await dan.ask("/start")
    tg.block(dan.chat_id)
    tg.queue_update(tg.my_chat_member(dan.user_id))
    admin = reader(ADMIN)
    await admin.barrier()

    text = (await admin.ask("/stats"))["text"]
    total = query(bot, "SELECT count(*) FROM chats WHERE kind = 'private'")[0][0]
    blocked = query(bot, "SELECT count(*) FROM chats WHERE kind = 'private' AND active = 0")[0][0]
    assert f"<b>Readers:</b> {total} (active {total - 1 - blocked}, paused 1," in text
    assert f"blocked {blocked})" in text
    assert "#china 2, #trade 1" in text
    assert "«Дзержинск» 2" in text
    assert "1 ok, 0 failing" in text
    today = datetime.now(UTC).date().isoformat()
    stored = query(bot, "SELECT count(*) FROM articles WHERE stored_at >= ?", (today,))[0][0]
    assert f"<b>Articles today:</b> {stored}" in text
    sent = query(bot, "SELECT count(*) FROM outbox WHERE status = 'sent'")[0][0]
    assert f"{sent} sent" in text


async def test_import_report_with_long_invalid_urls_fits_telegram_messages(start_bot, reader, tg):
    """Twenty 3000-character URLs made one report of 60 000 characters: Telegram refused
    it and the admin got nothing."""
    await start_bot()
    admin = reader(ADMIN)
    urls = [f"ftp://x.example/{i}/" + "a" * 3000 for i in range(20)]
    opml = (
        b"<opml><body>"
        + b"".join(b'<outline xmlUrl="%s"/>' % url.encode() for url in urls)
        + b"</body></opml>"
    )
    first = await import_file(tg, admin, opml)
    assert "0 added, 0 already there, 20 invalid" in first["text"]
    second = await admin.expect_message(contains="• invalid")  # the rest, in a next message
    assert second["text"].startswith("• invalid")
    for text in tg.sent_texts(admin.chat_id):
        assert len(text.encode("utf-16-le")) // 2 <= 4096
        assert "a" * 300 not in text
    listed = "\n".join(tg.sent_texts(admin.chat_id)).count("• invalid")
    assert listed == 20
