"""Digests, time zones and quiet hours end to end (SPEC 4.11, 4.12).

No fake clock: the bot runs on the real time, and tests choose zones and times relative
to it. A reader in a zone where the digest time is still ahead collects articles; moving
to a zone where it has passed makes the digest due at once. The restart test waits for
a real minute to pass while the bot is down.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from feedgen import feeds_toml, now, rss
from harness import find_button, query
from pg_server import BACKENDS

FAST = {"POLL_INTERVAL_SECONDS": "1"}
# One city zone per UTC offset, for finding a zone where it is a given time of day.
ZONES = (
    "Pacific/Kiritimati",
    "Pacific/Tongatapu",
    "Pacific/Noumea",
    "Australia/Brisbane",
    "Asia/Tokyo",
    "Asia/Shanghai",
    "Asia/Bangkok",
    "Asia/Dhaka",
    "Asia/Karachi",
    "Asia/Dubai",
    "Europe/Moscow",
    "Africa/Johannesburg",
    "Africa/Lagos",
    "Atlantic/Reykjavik",
    "Atlantic/Cape_Verde",
    "Atlantic/South_Georgia",
    "America/Sao_Paulo",
    "America/Santo_Domingo",
    "America/Panama",
    "America/Regina",
    "America/Phoenix",
    "Pacific/Pitcairn",
    "Pacific/Gambier",
    "Pacific/Honolulu",
    "Pacific/Pago_Pago",
)
CHINA = "Китайский автоконцерн откроет сборку в Нижегородской области"
CHINA_2 = "Делегация из КНР посетила технопарк"
WEATHER = "Погода в выходные"


def zones_with_hour(low: int, high: int, exclude=()) -> list[str]:
    """Zones where the local hour is now in [low, high)."""
    found = []
    for name in ZONES:
        hour = datetime.now(ZoneInfo(name)).hour
        if low <= hour < high and name not in exclude:
            found.append(name)
    assert found, f"no zone with the local hour in [{low}, {high})"
    return found


async def polled_after_change(server, *paths):
    counts = {path: server.hits(path) for path in paths}
    for path, count in counts.items():
        await server.wait_for_hits(path, count + 2)


def items(*titles, base=None):
    moment = base or now()
    return [
        (f"g-{n}", title, f"https://news.example/{n}?x=1&y=2", moment + timedelta(seconds=n), "")
        for n, title in enumerate(titles)
    ]


def digests_to(tg, reader):
    return [
        call
        for call in tg.calls
        if call.method == "sendMessage"
        and call.ok
        and call.params.get("chat_id") == reader.chat_id
        and "daily digest" in str(call.params.get("text", ""))
    ]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_digest_reader_gets_nothing_during_the_day_then_one_digest(
    tg, start_bot, reader, feed_server
):
    feed_server.serve("/a.xml", rss())
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, "/a.xml"))
    morning = zones_with_hour(1, 10)  # 12:00 is still ahead there
    evening = zones_with_hour(13, 23)  # 12:00 has passed there
    ann, bob, carol = reader(), reader(), reader()
    for who in (ann, bob, carol):
        await who.ask("/subscribe china")
    await ann.ask(f"/tz {morning[0]}")
    reply = await ann.ask("/digest 12:00")
    assert "12:00" in reply["text"] and morning[0] in reply["text"]
    await carol.ask(f"/tz {morning[-1]}")
    await carol.ask("/digest 12:00")
    await feed_server.wait_for_hits("/a.xml", 2)

    mark = tg.mark()
    feed_server.replace("/a.xml", rss(*items(CHINA, WEATHER, CHINA_2)))
    await polled_after_change(feed_server, "/a.xml")
    await bob.expect_message(contains=CHINA_2)  # the instant reader is pushed to
    await ann.assert_silent(mark)
    await carol.assert_silent(mark, barrier=False)
    assert query(bot, "SELECT count(*) FROM digest_items WHERE chat_id = ?", (ann.chat_id,)) == [
        (2,)
    ]
    listing = (await ann.ask("/list"))["text"]
    assert "digest a day at 12:00" in listing and morning[0] in listing

    # Ann moves to a zone where noon has passed: her digest is due, and comes at once.
    await ann.ask(f"/tz {evening[0]}")
    digest = await ann.expect_message(contains="daily digest")
    text = digest["text"]
    assert "2 articles" in text and "🇨🇳" in text
    assert text.index(CHINA_2) < text.index(CHINA) and WEATHER not in text
    assert 'href="https://news.example/2?x=1&amp;y=2"' in text
    assert digest.get("disable_notification") in (None, False)
    await ann.barrier()
    assert len(digests_to(tg, ann)) == 1
    assert query(bot, "SELECT count(*) FROM digest_items WHERE chat_id = ?", (ann.chat_id,)) == [
        (0,)
    ]
    # Carol's noon has not come in her zone: she still gets nothing, her articles wait.
    assert digests_to(tg, carol) == []
    assert query(bot, "SELECT count(*) FROM digest_items WHERE chat_id = ?", (carol.chat_id,)) == [
        (2,)
    ]

    # Back to instant: Carol's kept articles come as pushes, new ones are pushed.
    reply = await carol.ask("/digest off")
    assert "2 kept" in reply["text"]
    await carol.expect_message(contains=CHINA)
    assert "instant" in (await carol.ask("/list"))["text"]


async def test_a_restart_across_the_digest_time_sends_it_once(tg, start_bot, reader, feed_server):
    feed_server.serve("/a.xml", rss())
    bot = await start_bot(env=FAST, feeds=feeds_toml(feed_server, "/a.xml"))
    ann = reader()
    await ann.ask("/subscribe china")
    await feed_server.wait_for_hits("/a.xml", 2)
    zone = "Asia/Kolkata"  # UTC+05:30: a digest at the reader's local time, not UTC's
    due = (datetime.now(ZoneInfo(zone)) + timedelta(seconds=75)).replace(second=0, microsecond=0)
    await ann.ask(f"/tz {zone}")
    reply = await ann.ask(f"/digest {due:%H:%M}")
    assert f"{due:%H:%M}" in reply["text"]

    mark = tg.mark()
    feed_server.replace("/a.xml", rss(*items(CHINA, CHINA_2)))
    await polled_after_change(feed_server, "/a.xml")
    assert datetime.now(UTC) < due, "the articles took too long to arrive"
    await ann.assert_silent(mark)
    await bot.kill()  # a crash before the digest time

    wait = (due - datetime.now(UTC)).total_seconds() + 1
    await asyncio.sleep(max(0.0, wait))  # the real clock passes the digest time
    second = await start_bot(workdir=bot.workdir, env=FAST)
    digest = await ann.expect_message(contains="daily digest", timeout=20)
    assert CHINA in digest["text"] and CHINA_2 in digest["text"]
    assert datetime.now(UTC) >= due

    # Restart again: the day is done, the digest is not queued again. (SIGTERM: a kill
    # right after the send could repeat that one in-flight message, SPEC 7.4's bound.)
    await second.stop()
    await start_bot(workdir=bot.workdir, env=FAST)
    await ann.barrier()
    assert len(digests_to(tg, ann)) == 1
    assert query(bot, "SELECT count(*), min(status) FROM outbox WHERE text IS NOT NULL") == [
        (1, "sent")
    ]
    day = query(bot, "SELECT last_digest_on FROM chats WHERE chat_id = ?", (ann.chat_id,))
    assert day == [(due.date().isoformat(),)]


async def test_quiet_hours_send_without_sound_in_the_readers_zone(
    tg, start_bot, reader, feed_server
):
    feed_server.serve("/a.xml", rss())
    await start_bot(env=FAST, feeds=feeds_toml(feed_server, "/a.xml"))
    zone = "America/Sao_Paulo"
    local = datetime.now(ZoneInfo(zone))
    inside = f"{local - timedelta(hours=1):%H:%M}-{local + timedelta(hours=1):%H:%M}"
    outside = f"{local + timedelta(hours=2):%H:%M}-{local + timedelta(hours=4):%H:%M}"
    ann, bob = reader(), reader()
    for who, window in ((ann, inside), (bob, outside)):
        await who.ask("/subscribe china")
        await who.ask(f"/tz {zone}")
        reply = await who.ask(f"/quiet {window}")
        assert window in reply["text"]
    assert f"Quiet hours: {inside}" in (await ann.ask("/list"))["text"]
    await feed_server.wait_for_hits("/a.xml", 2)
    feed_server.replace("/a.xml", rss(*items(CHINA)))
    quiet = await ann.expect_message(contains=CHINA, timeout=20)
    loud = await bob.expect_message(contains=CHINA, timeout=20)
    assert quiet.get("disable_notification") is True
    assert not loud.get("disable_notification")

    assert "off" in (await ann.ask("/quiet off"))["text"]
    assert "Quiet hours: off" in (await ann.ask("/list"))["text"]


async def test_bad_times_and_zones_are_explained_and_change_nothing(start_bot, reader):
    """Each command from a reader of its own: flood control allows 10 at once."""
    bot = await start_bot()

    def settings(who):
        return query(
            bot,
            "SELECT timezone, digest_time, quiet_start, quiet_end FROM chats WHERE chat_id = ?",
            (who.chat_id,),
        )

    unset = [(None, None, None, None)]
    for command, expected in (
        ("/digest 25:00", "is not a time of day"),
        ("/digest 8-9", "is not a time of day"),
        ("/digest noon", "is not a time of day"),
        ("/quiet 8-9", "is not a window"),
        ("/quiet 25:00-08:00", "is not a window"),
        ("/quiet 23:00", "is not a window"),
        ("/quiet 08:00-08:00", "different times"),
        ("/tz Mars/Olympus", "don't know the time zone"),
        ("/tz Moscow", "don't know the time zone"),
        ("/tz <b>x</b>", "&lt;b&gt;x&lt;/b&gt;"),
        ("/digest", "/digest 08:00"),
        ("/quiet", "/quiet 23:00-08:00"),
        ("/tz", "Europe/Moscow"),
    ):
        who = reader()
        reply = await who.ask(command)
        assert expected in reply["text"], (command, reply["text"])
        assert settings(who) == unset, command
    listing = (await who.ask("/list"))["text"]
    assert "instant" in listing and "Time zone: Europe/Moscow" in listing
    assert "Quiet hours: off" in listing
    ru = reader(language_code="ru")
    assert "не время суток" in (await ru.ask("/digest 25:00"))["text"]


async def test_topics_screen_offers_digest_and_quiet_hours_buttons(start_bot, reader):
    bot = await start_bot()
    ann = reader()
    screen = await ann.ask("/topics")
    await ann.press(screen, "Digest")
    menu = await ann.expect_message(contains="daily digest come")
    await ann.press(menu, "08:00")
    edit = await ann.expect_edit()
    assert "08:00" in edit.params["text"]
    await ann.press(screen, "Quiet hours")
    menu = await ann.expect_message(contains="without sound")
    _, data = find_button(ann.stored_message(menu), "23:00-08:00")
    await ann.press(menu, data=data)
    edit = await ann.expect_edit()
    assert "23:00-08:00" in edit.params["text"]
    assert query(
        bot,
        "SELECT digest_time, quiet_start, quiet_end FROM chats WHERE chat_id = ?",
        (ann.chat_id,),
    ) == [("08:00", "23:00", "08:00")]
    # Toggling a topic keeps the row under the topics.
    await ann.press(screen, "China")
    await ann.expect_edit()
    assert find_button(ann.stored_message(screen), "Digest")
