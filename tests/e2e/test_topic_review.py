"""Editors see and fix the machine's topics (SPEC 5.4): /why, /retopic, /export corrections,
article numbers in editors' /latest, and every refusal and bad input, through the real bot."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from feedgen import feeds_toml, now, rss
from harness import query

ADMIN = 900
EDITOR = 901
FAST = {"POLL_INTERVAL_SECONDS": "1"}

PUMPS = "Арзамасский завод отгрузил насосы заказчику в Египте"
HOCKEY = "Хоккейный клуб «Трактор» обыграл соперника в матче КХЛ"


def story(n: int, title: str, summary: str = "Подробности позже.") -> tuple:
    return (
        f"g-{n}",
        title,
        f"https://news.example/{n}",
        now() - timedelta(minutes=30 - n),
        summary,
    )


@pytest.fixture
def bot_env():
    return {"ADMIN_IDS": str(ADMIN), **FAST}


def morning_zone() -> str:
    """A zone where a 12:00 digest is still hours ahead, so none goes out in the test."""
    for name in sorted(available_timezones()):
        if name.count("/") == 1 and 1 <= datetime.now(ZoneInfo(name)).hour < 10:
            return name
    raise AssertionError("no zone between 01:00 and 10:00 (impossible)")


def article_id(bot, title: str) -> int:
    rows = query(bot, "SELECT article_id FROM articles WHERE title = ?", (title,))
    assert len(rows) == 1, rows
    return rows[0][0]


def topics_of(bot, number: int) -> tuple[str, str]:
    stored = query(bot, "SELECT topics FROM articles WHERE article_id = ?", (number,))[0][0]
    index = query(
        bot,
        "SELECT group_concat(topic_id, ' ') FROM (SELECT topic_id FROM article_topics"
        " WHERE article_id = ? ORDER BY topic_id)",
        (number,),
    )[0][0]
    return stored, index or ""


async def polled_after_change(feed_server, path: str) -> None:
    await feed_server.wait_for_hits(path, feed_server.hits(path) + 2)


async def refusals_and_bad_input_change_nothing(bot, reader, tg, admin, editor, number):
    """Readers are refused, and every malformed /why, /retopic and /export gets its usage
    or reason; no topic and no correction changes."""
    plain = reader(language_code="ru")
    before = topics_of(bot, number)
    for command in (f"/why {number}", f"/retopic {number} +trade", "/export corrections"):
        assert "⛔ Эта команда только для редакторов" in (await plain.ask(command))["text"]
    assert "№" not in (await plain.ask("/latest source:news.xml"))["text"]

    replies = {
        "/why": "Usage: <code>/why ID</code>",
        "/why abc": "Usage: <code>/why ID</code>",
        f"/why {number} extra": "Usage: <code>/why ID</code>",
        "/why 99999": "There is no stored article №99999",
        "/why 0": "Usage: <code>/why ID</code>",
        "/retopic": "Usage: <code>/retopic ID +topic -topic</code>",
        f"/retopic {number}": "Usage: <code>/retopic ID +topic -topic</code>",
        f"/retopic {number} trade": "«trade» is not a change",
        f"/retopic {number} +nope": "Unknown topic «nope»",
        f"/retopic {number} +trade -trade": "Topic trade is both added and removed",
        f"/retopic {number} +" + "x" * 600: "Usage: <code>/retopic ID +topic -topic</code>",
        "/retopic 99999 +trade": "There is no stored article №99999",
        "/retopic 1" + "0" * 40 + " +trade": "Usage: <code>/retopic ID +topic -topic</code>",
        "/export everything": "Usage: <code>/export</code>",
        "/export corrections": "No topic corrections yet",
    }
    staff = [editor, admin, reader(EDITOR + 1)]
    await admin.ask(f"/editor add {EDITOR + 1}")
    for index, (command, expected) in enumerate(replies.items()):
        # Flood control allows ten commands at once: a fresh editor every five.
        who = staff[index // 5]
        assert expected in (await who.ask(command))["text"], command
    assert not tg.calls_of("sendDocument")
    assert topics_of(bot, number) == before
    assert query(bot, "SELECT count(*) FROM topic_corrections") == [(0,)]


async def test_why_retopic_and_export_corrections(start_bot, reader, tg, feed_server):
    feed_server.serve("/news.xml", rss(story(1, HOCKEY, "Матч прошёл при полных трибунах.")))
    bot = await start_bot(feeds=feeds_toml(feed_server, "/news.xml"))
    admin, editor = reader(ADMIN), reader(EDITOR)
    await editor.ask("/start")
    await admin.ask(f"/editor add {EDITOR}")
    # Digest readers: Dora follows trade only; Kim follows trade and the word "насосы".
    dora, kim, ann = reader(), reader(), reader()
    zone = morning_zone()
    for who in (dora, kim):
        await who.ask("/subscribe trade")
        await who.ask(f"/tz {zone}")
        await who.ask("/digest 12:00")
    await kim.ask("/subscribe насосы")
    await ann.ask("/subscribe logistics")  # instant: must not be pushed by a correction
    await feed_server.wait_for_hits("/news.xml", 2)
    # One bot for both halves: a bot start costs seconds of the suite's budget.
    await refusals_and_bad_input_change_nothing(
        bot, reader, tg, admin, editor, article_id(bot, HOCKEY)
    )

    feed_server.replace(
        "/news.xml",
        rss(
            story(1, HOCKEY, "Матч прошёл при полных трибунах."),
            story(2, PUMPS, "Партия из сорока агрегатов уйдёт морем."),
        ),
    )
    await polled_after_change(feed_server, "/news.xml")
    pumps, hockey = article_id(bot, PUMPS), article_id(bot, HOCKEY)
    assert "trade" in topics_of(bot, pumps)[0].split()
    pending = "SELECT chat_id FROM digest_items WHERE article_id = ? ORDER BY chat_id"
    assert query(bot, pending, (pumps,)) == [(dora.chat_id,), (kim.chat_id,)]

    # Editors see article numbers in /latest; readers do not.
    listing = (await editor.ask("/latest source:news.xml"))["text"]
    assert f"№{pumps}" in listing and f"№{hockey}" in listing
    assert "№" not in (await ann.ask("/latest source:news.xml"))["text"]

    why = (await editor.ask(f"/why {pumps}"))["text"]
    assert why.startswith(f"<b>Why №{pumps} has its topics</b>\n{PUMPS}")
    reason = "«Египте + отгрузил» (rule <code>foreign-supply</code>)"
    assert f"🌍 Foreign trade &amp; exports: {reason}" in why
    why = (await editor.ask(f"/why №{hockey}"))["text"]
    assert "<b>Not assigned</b>" in why
    cancelled = "«Трактор» cancelled by rule <code>sports-club</code> («Хоккейный»)"
    assert f"⚙️ Machine building &amp; automotive: {cancelled}" in why

    mark = tg.mark()
    done = (await editor.ask(f"/retopic {pumps} +logistics −trade"))["text"]
    assert done.startswith(f"Article №{pumps}: +logistics −trade. Topics now: ")
    stored, indexed = topics_of(bot, pumps)
    assert stored == indexed and "logistics" in stored.split() and "trade" not in stored.split()
    # Dora followed it only through trade; Kim keeps it through her word.
    assert query(bot, pending, (pumps,)) == [(kim.chat_id,)]
    assert PUMPS in (await ann.ask("/latest logistics"))["text"]
    assert PUMPS not in (await ann.ask("/latest trade"))["text"]
    # Nothing was sent again to anyone but the people asking.
    askers = {editor.chat_id, ann.chat_id}
    sent = [c for c in tg.calls[mark:] if c.method in ("sendMessage", "sendPhoto")]
    assert [c for c in sent if c.params["chat_id"] not in askers] == []

    again = (await editor.ask(f"/retopic {pumps} +logistics"))["text"]
    assert "already has those topics" in again
    why = (await editor.ask(f"/why {pumps}"))["text"]
    assert "🚚 Logistics &amp; transport: set by an editor" in why
    assert "🌍 Foreign trade &amp; exports: removed by an editor" in why
    assert "<b>Corrections</b>" in why and ": +logistics −trade" in why
    rows = query(bot, "SELECT editor_id, added, removed FROM topic_corrections")
    assert rows == [(EDITOR, "logistics", "trade")]

    await editor.send("/export corrections")
    document = await editor.expect_document()
    assert document.params["document"].filename == "topic-corrections.jsonl"
    lines = document.params["document"].content.decode("utf-8").splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert row["id"] == f"article-{pumps}" and row["lang"] == "ru" and row["title"] == PUMPS
    assert "logistics" in row["must"] and "trade" not in row["must"]
    assert row["must_not"] == ["trade"]
    assert row["source"] == "https://news.example/2"
