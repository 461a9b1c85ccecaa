"""Posts a news desk would publish (SPEC 6.0, 7.5, 8.4), end to end: the real bot polls a
local feed whose items carry pictures, and posts to channels and readers through the fake
Bot API, which downloads each photo URL as Telegram does.

One bot start covers the whole matrix: a channel with photos on gets `sendPhoto` with
the post as its caption; a picture Telegram cannot use becomes the text post in the same
outbox row, once; a channel with photos off and every reader get text; a reader with
`/previews off` gets no preview; the source line names the feed as readers know it.
"""

from __future__ import annotations

from email.utils import format_datetime
from html import escape

from delivery_helpers import DB_NAME, seed, wait_stored
from feedgen import now
from harness import query

PHOTO_CHANNEL, TEXT_CHANNEL = -1_001_700_000_001, -1_001_700_000_002
FEED, OTHER_FEED = "/niann.xml", "/vestnik.xml"
TITLE = "НИА «Нижний Новгород»"  # FEEDS_FILE's title for FEED
OTHER_TITLE = "Вестник НН"  # OTHER_FEED has no title in FEEDS_FILE: its own <title> is shown
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
ADMIN = 900
ENV = {
    "POLL_INTERVAL_SECONDS": "1",
    "CHANNEL_IDS": f"{PHOTO_CHANNEL},{TEXT_CHANNEL}",
    "ADMIN_IDS": str(ADMIN),
}


def feed(title: str, *items: tuple[str, str, str, str | None]) -> bytes:
    """RSS with (guid, title, summary, picture URL) items, about China (a topic that
    channels of every topic carry)."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{escape(head)}</title>"
        f"<link>https://news.example/{guid}</link><pubDate>{format_datetime(now())}</pubDate>"
        f"<description>{escape(summary)}</description>"
        + (f'<enclosure url="{escape(image)}" type="image/jpeg" length="76"/>' if image else "")
        + "</item>"
        for guid, head, summary, image in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://news.example/</link>{body}"
        "</channel></rss>"
    ).encode()


async def test_pictures_captions_fallbacks_previews_and_source_titles(
    tg, start_bot, feed_server, reader, tmp_path
):
    workdir = tmp_path / "bot"
    for chat_id in (PHOTO_CHANNEL, TEXT_CHANNEL):
        tg.register_chat(chat_id, "channel", title=f"Channel {chat_id}")
        tg.set_member(chat_id, tg.bot_id, "administrator")
    await seed(workdir, channels=[(PHOTO_CHANNEL, None), (TEXT_CHANNEL, None)])
    feed_server.serve(FEED, feed("niann: all news"))
    feed_server.serve(OTHER_FEED, feed(OTHER_TITLE))
    feed_server.serve("/pic.jpg", JPEG, content_type="image/jpeg")
    feed_server.serve("/not-a-picture.jpg", b"<html>moved</html>", content_type="text/html")
    feeds = (
        f'[[feeds]]\nurl = "{feed_server.url(FEED)}"\nname = "niann"\ntitle = "{TITLE}"\n'
        f'[[feeds]]\nurl = "{feed_server.url(OTHER_FEED)}"\nname = "vestnik"\n'
    )
    bot = await start_bot(env=ENV, feeds=feeds, workdir=workdir)
    await feed_server.wait_for_hits(FEED, 2)
    await feed_server.wait_for_hits(OTHER_FEED, 2)
    admin = reader(ADMIN)
    switched = await admin.ask(f"/channel set {TEXT_CHANNEL} photos off")
    assert "photos: off" in switched["text"], switched["text"]
    assert "photos: on" in (await admin.ask(f"/channel set {PHOTO_CHANNEL} photos on"))["text"]
    ann, bob = reader(), reader()
    for person in (ann, bob):
        await person.ask("/start")
        await person.ask("/subscribe china")
    reply = await bob.ask("/previews off")
    assert "previews are off" in reply["text"]
    assert "Link previews: off" in (await bob.ask("/list"))["text"]
    assert "Link previews: on" in (await ann.ask("/list"))["text"]
    assert "already off" in (await bob.ask("/previews off"))["text"]
    assert "are off now" in (await bob.ask("/previews"))["text"]
    assert "already on" in (await ann.ask("/previews ON"))["text"]
    await ann.ask("/previews off")
    assert "previews are on" in (await ann.ask("/previews on"))["text"]
    assert "Link previews: on" in (await ann.ask("/list"))["text"]

    mark = tg.mark()
    long_summary = "Совместное предприятие с партнёрами из КНР локализует производство. " * 30
    feed_server.replace(
        FEED,
        feed(
            "niann: all news",
            (
                "pic",
                "Китайский автоконцерн откроет сборку",
                long_summary,
                feed_server.url("/pic.jpg"),
            ),
            (
                "bad-pic",
                "Китайские станки пришли на завод",
                "Партия оборудования из Китая.",
                feed_server.url("/not-a-picture.jpg"),
            ),
        ),
    )
    feed_server.replace(
        OTHER_FEED,
        feed(OTHER_TITLE, ("plain", "Китайская делегация посетила технопарк", "Визит.", None)),
    )
    # Two channels of every topic and two readers of China get all three stories: 12 rows.
    sql = "SELECT count(*) FROM outbox WHERE status = 'sent'"
    await wait_stored(workdir / DB_NAME, sql, lambda rows: rows == [(12,)], timeout=30)
    calls = tg.calls[mark:]

    def to(chat_id, method):
        return [c for c in calls if c.method == method and c.params["chat_id"] == chat_id]

    # The channel with photos on: the picture with the post as its caption...
    photos = to(PHOTO_CHANNEL, "sendPhoto")
    (good,) = [c for c in photos if c.ok]
    assert good.params["photo"] == feed_server.url("/pic.jpg")
    assert feed_server.hits("/pic.jpg") == 1  # Telegram (the fake) fetched it
    caption = good.result["caption"]
    assert len(caption) <= 1024 and "Китайский автоконцерн" in caption
    assert f"Источник: {TITLE}" in caption
    assert caption.endswith("🔗 Читать статью")  # the summary was cut, never the link
    assert good.result["caption_entities"][-1]["url"] == "https://news.example/pic"
    # ...and the picture Telegram refused became the text post, once, with its preview.
    (refused,) = [c for c in photos if not c.ok]
    assert "wrong type of the web page content" in refused.description
    texts = to(PHOTO_CHANNEL, "sendMessage")
    assert [c.ok for c in texts] == [True, True]
    fallback = next(c for c in texts if "Китайские станки" in c.params["text"])
    assert fallback.params["link_preview_options"] == {
        "is_disabled": False,
        "url": "https://news.example/bad-pic",
    }
    rows = query(
        bot,
        "SELECT a.title, o.photo, o.message_id FROM outbox o JOIN articles a USING (article_id)"
        f" WHERE o.chat_id = {PHOTO_CHANNEL} ORDER BY a.title",
    )
    assert [(title[:10], photo) for title, photo, _ in rows] == [
        ("Китайская ", 0),
        ("Китайские ", 0),
        ("Китайский ", 1),
    ]
    # Photos off: text posts only.
    assert to(TEXT_CHANNEL, "sendPhoto") == []
    assert len([c for c in to(TEXT_CHANNEL, "sendMessage") if c.ok]) == 3
    # Readers: text with the article's preview, unless they turned previews off.
    for person, disabled in ((ann, False), (bob, True)):
        pushes = [c for c in to(person.chat_id, "sendMessage") if c.ok]
        assert len(pushes) == 3
        assert {c.params["link_preview_options"]["is_disabled"] for c in pushes} == {disabled}
    other = next(c for c in to(ann.chat_id, "sendMessage") if "технопарк" in c.params["text"])
    assert f"Source: {OTHER_TITLE}" in other.params["text"]
    assert "Source: vestnik" not in other.params["text"]
    help_text = (await ann.ask("/help"))["text"]
    assert f"<code>niann</code> ({TITLE})" in help_text
    assert f"<code>vestnik</code> ({OTHER_TITLE})" in help_text
