"""The sender against a real aiogram Bot and the fake Bot API, on a real SQLite file.

Timing-sensitive tests inject a fake clock whose `sleep` advances time at once, so a
429 with retry_after=700 or a 16 s backoff costs nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from fake_telegram import FakeTelegram

from bot.app import bot_defaults
from bot.delivery.channels import ResolvedChat, can_post, resolve_chat, seed_channels
from bot.delivery.pacing import Pacer
from bot.delivery.sender import Sender
from bot.i18n import Catalogue
from storage.channels import ChannelRepository
from storage.chats import ChatRepository
from storage.outbox import OutboxRepository

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
STAMP = START.isoformat(timespec="seconds")
ANN, BOB, CAT = 1001, 1002, 1003


class FakeClock:
    """Monotonic and wall time that only move when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return START + timedelta(seconds=self.now - 1000.0)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


class RecordingPacer(Pacer):
    """Remembers when each send was allowed to go, by the clock the sender uses."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.taken: list[tuple[int, float]] = []

    def take(self, chat_id: int, is_private: bool, now: float) -> None:
        self.taken.append((chat_id, now))
        super().take(chat_id, is_private, now)


def no_limits() -> RecordingPacer:
    return RecordingPacer(None, chat_interval=None, group_limit=None)


@pytest_asyncio.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    """Configured like bot.app.create_bot: HTML by default, link previews off by default."""
    client = Bot(
        tg.token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)),
        default=bot_defaults(),
    )
    try:
        yield client
    finally:
        await client.session.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(db) -> OutboxRepository:
    return OutboxRepository(db)


@pytest.fixture
def make_sender(bot, db, outbox, clock):
    def make(pacer: Pacer | None = None, *, real_time: bool = False, **options) -> Sender:
        timing = {} if real_time else {"clock": clock, "wall": clock.wall, "sleep": clock.sleep}
        return Sender(
            bot,
            outbox,
            ChatRepository(db),
            Catalogue.load(),
            pacer or no_limits(),
            **timing,
            **options,
        )

    return make


async def add_chat(db, chat_id, *, kind="private", language="en"):
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO chats (chat_id, kind, language, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (chat_id, kind, language, STAMP, STAMP),
        )


async def add_article(db, title="Exports to China grew", *, topics=("china", "trade")) -> int:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO feeds (url, name, created_at)"
            " VALUES ('https://niann.example/rss', 'niann', ?) ON CONFLICT DO NOTHING",
            (STAMP,),
        )
        return await conn.fetch_value(
            "INSERT INTO articles (feed_id, link, title, title_key, summary, stored_at, topics)"
            " VALUES (1, ?, ?, ?, 'Machinery & more.', ?, ?) RETURNING article_id",
            (f"https://niann.example/{len(title)}", title, title.lower(), STAMP, " ".join(topics)),
        )


async def enqueue(db, chat_id, article_id, *, priority=0) -> int:
    async with db.transaction() as conn:
        return await conn.fetch_value(
            "INSERT INTO outbox (chat_id, article_id, priority, created_at)"
            " VALUES (?, ?, ?, ?) RETURNING outbox_id",
            (chat_id, article_id, priority, STAMP),
        )


async def status(db, outbox_id):
    return await db.fetch_one("SELECT * FROM outbox WHERE outbox_id = ?", (outbox_id,))


async def statuses(db) -> dict[int, str]:
    rows = await db.fetch_all("SELECT outbox_id, status FROM outbox ORDER BY outbox_id")
    return {r["outbox_id"]: r["status"] for r in rows}


def sends(tg: FakeTelegram, chat_id: int | None = None):
    calls = tg.calls_of("sendMessage")
    return [c for c in calls if chat_id is None or c.params["chat_id"] == chat_id]


async def test_delivers_html_with_the_article_preview(db, tg, make_sender):
    await add_chat(db, ANN)
    await add_chat(db, BOB, language="ru")
    article = await add_article(db)
    ids = [await enqueue(db, ANN, article), await enqueue(db, BOB, article)]
    sender = make_sender()
    await sender.run_until_idle()
    (to_ann,) = sends(tg, ANN)
    assert to_ann.ok and to_ann.params["parse_mode"] == "HTML"
    assert to_ann.params["text"].startswith("<b>Exports to China grew</b>")
    assert "Machinery &amp; more." in to_ann.params["text"]
    assert to_ann.params["link_preview_options"] == {
        "is_disabled": False,
        "url": "https://niann.example/21",
    }
    assert "disable_web_page_preview" not in to_ann.params
    assert "Источник: niann" in sends(tg, BOB)[0].params["text"]
    for outbox_id in ids:
        row = await status(db, outbox_id)
        assert row["status"] == "sent" and row["message_id"] == 1 and row["sent_at"] == STAMP
    assert sender.stats.sent == 2


async def test_retry_after_pauses_all_sending_then_retries_the_same_row(db, tg, make_sender, clock):
    for chat in (ANN, BOB, CAT):
        await add_chat(db, chat)
    article = await add_article(db)
    first = await enqueue(db, ANN, article)
    await enqueue(db, BOB, article)
    await enqueue(db, CAT, article)
    tg.fail_next("sendMessage", retry_after=7, chat_id=ANN)
    pacer = no_limits()
    sender = make_sender(pacer, concurrency=1)
    await sender.run_until_idle()
    assert [c.status for c in sends(tg, ANN)] == [429, 200]
    assert set((await statuses(db)).values()) == {"sent"}
    assert (await status(db, first))["attempts"] == 0  # a 429 is not a failed attempt
    refused_at = pacer.taken[0][1]
    assert all(at >= refused_at + 7 for _, at in pacer.taken[1:])  # nobody sent in the pause
    assert [chat for chat, _ in pacer.taken] == [ANN, ANN, BOB, CAT]
    assert sender.stats.pauses == 1


async def test_retry_after_in_real_time(db, tg, make_sender):
    await add_chat(db, ANN)
    await add_chat(db, BOB)
    article = await add_article(db)
    await enqueue(db, ANN, article)
    await enqueue(db, BOB, article)
    tg.fail_next("sendMessage", retry_after=1, chat_id=ANN)
    await make_sender(real_time=True, concurrency=1).run_until_idle()
    refused, retried, to_bob = sends(tg)
    assert (refused.status, retried.status, to_bob.status) == (429, 200, 200)
    assert retried.at - refused.at >= 0.9 and to_bob.at - refused.at >= 0.9


async def test_long_pause_is_an_alert(db, tg, make_sender, caplog):
    await add_chat(db, ANN)
    await enqueue(db, ANN, await add_article(db))
    tg.fail_next("sendMessage", retry_after=700)
    alerts = []

    async def alert(text: str) -> None:
        alerts.append(text)

    with caplog.at_level(logging.ERROR, logger="bot.delivery.sender"):
        await make_sender(alert=alert).run_until_idle()
    assert len(alerts) == 1 and "700 s" in alerts[0]
    assert any("ALERT" in r.message for r in caplog.records if r.levelno == logging.ERROR)
    assert sends(tg, ANN)[-1].ok


async def test_blocked_reader_is_deactivated_and_their_rows_dropped(db, tg, make_sender):
    await add_chat(db, ANN)
    await add_chat(db, BOB)
    articles = [await add_article(db, f"Story {i}") for i in range(3)]
    for article in articles:
        await enqueue(db, ANN, article)
    to_bob = await enqueue(db, BOB, articles[0])
    tg.block(ANN)
    # Real time: ANN's later rows wait their 1/s turn while the 403 comes back.
    sender = make_sender(Pacer(None), real_time=True)
    await sender.run_until_idle()
    assert len(sends(tg, ANN)) == 1  # the rest were dropped without trying
    assert not (await ChatRepository(db).get(ANN)).active
    rows = await db.fetch_all("SELECT status, last_error FROM outbox WHERE chat_id = ?", (ANN,))
    assert {r["status"] for r in rows} == {"dropped"}
    assert "blocked by the user" in rows[0]["last_error"]
    assert (await status(db, to_bob))["status"] == "sent"
    assert (sender.stats.deactivated, sender.stats.dropped) == (1, 3)


async def test_chat_not_found_deactivates_the_channel(db, tg, make_sender):
    channels = ChannelRepository(db)
    await channels.upsert(-1001, "channel", "Agency", None)
    await add_chat(db, ANN)
    article = await add_article(db)
    to_channel = await enqueue(db, -1001, article)
    to_ann = await enqueue(db, ANN, article)
    tg.fail_next("sendMessage", status=400, chat_id=-1001)
    await make_sender().run_until_idle()
    assert not (await channels.get(-1001)).active
    assert (await status(db, to_channel))["status"] == "dropped"
    assert (await status(db, to_ann))["status"] == "sent"


async def test_server_error_is_retried_with_backoff_then_sent(db, tg, make_sender, clock):
    await add_chat(db, ANN)
    outbox_id = await enqueue(db, ANN, await add_article(db))
    tg.fail_next("sendMessage", status=500)
    sender = make_sender()
    await sender.run_until_idle()
    row = await status(db, outbox_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["not_before"] == (clock.wall() + timedelta(seconds=2)).isoformat(timespec="seconds")
    assert "Internal Server Error" in row["last_error"]
    await sender.run_until_idle()
    assert len(sends(tg)) == 1  # not due yet
    clock.now += 2
    await sender.run_until_idle()
    assert (await status(db, outbox_id))["status"] == "sent"
    assert [c.status for c in sends(tg)] == [500, 200]


async def test_persistent_server_error_ends_failed_with_the_error(db, tg, make_sender, clock):
    await add_chat(db, ANN)
    outbox_id = await enqueue(db, ANN, await add_article(db))
    tg.fail_next("sendMessage", status=502, times=10)
    sender = make_sender(max_attempts=5)
    waits = []
    for _ in range(6):
        await sender.run_until_idle()
        row = await status(db, outbox_id)
        if row["status"] != "pending":
            break
        due = datetime.fromisoformat(row["not_before"])
        waits.append((due - clock.wall()).total_seconds())
        clock.now += waits[-1]
    assert waits == [2, 4, 8, 16]
    row = await status(db, outbox_id)
    assert (row["status"], row["attempts"]) == ("failed", 5)
    assert row["last_error"] == "TelegramServerError: Bad Gateway"
    assert len(sends(tg)) == 5
    assert sender.stats.failed["gave_up"] == 1


async def test_network_error_is_retried(db, tg, make_sender, clock):
    await add_chat(db, ANN)
    outbox_id = await enqueue(db, ANN, await add_article(db))
    tg.hang_next("sendMessage", 3)
    await make_sender(request_timeout=1).run_until_idle()
    row = await status(db, outbox_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"].startswith("TelegramNetworkError")


async def test_formatting_error_falls_back_to_plain_text_once(db, tg, make_sender):
    await add_chat(db, ANN)
    await add_chat(db, BOB)
    article = await add_article(db)
    fine = await enqueue(db, ANN, article)
    broken = await enqueue(db, BOB, article)
    refusal = 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 3'
    tg.fail_next("sendMessage", status=400, description=refusal, chat_id=ANN)
    tg.fail_next("sendMessage", status=400, description=refusal, chat_id=BOB, times=2)
    sender = make_sender()
    await sender.run_until_idle()
    html_try, plain_try = sends(tg, ANN)
    assert html_try.params["parse_mode"] == "HTML" and not html_try.ok
    assert "parse_mode" not in plain_try.params and plain_try.ok
    assert "<b>" not in plain_try.params["text"]
    assert "Machinery & more." in plain_try.params["text"]
    assert "https://niann.example/21" in plain_try.params["text"]
    assert (await status(db, fine))["status"] == "sent"
    row = await status(db, broken)  # plain text refused too: failed, not retried forever
    assert row["status"] == "failed" and "can't parse entities" in row["last_error"]
    assert len(sends(tg, BOB)) == 2
    assert sender.stats.plain_fallbacks == 2


async def test_group_migrated_to_supergroup_keeps_its_settings(db, tg, make_sender):
    channels = ChannelRepository(db)
    await channels.upsert(-5, "group", "Economy chat", None, topics=["china"])
    article = await add_article(db)
    first = await enqueue(db, -5, article)
    second = await enqueue(db, -5, await add_article(db, "Second story"))
    tg.fail_next("sendMessage", migrate_to_chat_id=-1005, chat_id=-5, times=5)
    sender = make_sender()
    await sender.run_until_idle()
    moved = await channels.get(-1005)
    assert (moved.kind, moved.title, moved.topics, moved.active) == (
        "supergroup",
        "Economy chat",
        ("china",),
        True,
    )
    assert await channels.get(-5) is None
    for outbox_id in (first, second):
        row = await status(db, outbox_id)
        assert (row["chat_id"], row["status"]) == (-1005, "sent")
    assert len(sends(tg, -1005)) == 2 and sender.stats.migrated >= 1


async def test_one_bad_row_does_not_stop_the_others(db, tg, make_sender):
    for chat in (ANN, BOB, CAT):
        await add_chat(db, chat)
    article = await add_article(db)
    ids = [await enqueue(db, chat, article) for chat in (ANN, BOB, CAT)]
    refusal = "Bad Request: message thread not found"
    tg.fail_next("sendMessage", status=400, description=refusal, chat_id=BOB)
    await make_sender().run_until_idle()
    assert [(await status(db, i))["status"] for i in ids] == ["sent", "failed", "sent"]


async def test_priority_rows_go_first(db, tg, make_sender):
    for chat in (ANN, BOB, CAT):
        await add_chat(db, chat)
    article = await add_article(db)
    await enqueue(db, ANN, article)
    await enqueue(db, BOB, article)
    await enqueue(db, CAT, await add_article(db, "Breaking"), priority=10)
    await make_sender(concurrency=1).run_until_idle()
    assert [c.params["chat_id"] for c in sends(tg)] == [CAT, ANN, BOB]


async def test_real_limits_are_respected(db, tg, make_sender):
    """Three stories for one reader and a burst to a channel against the fake's limits."""
    tg.enforce_limits(per_chat_per_second=1, per_group_per_minute=20, global_per_second=30)
    await add_chat(db, ANN)
    await ChannelRepository(db).upsert(-1001, "channel", None, None)
    for i in range(3):
        article = await add_article(db, f"Story {i}")
        await enqueue(db, ANN, article)
        if i < 2:  # a third would wait for the channel's 3 s steady spacing
            await enqueue(db, -1001, article)
    for i in range(20):
        await add_chat(db, 2000 + i)
        await enqueue(db, 2000 + i, article)
    sender = make_sender(Pacer(25), real_time=True, idle_timeout=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        await tg.wait_for("sendMessage", lambda c: len(sends(tg)) == 25, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 3)
    assert tg.count_429 == 0
    assert set((await statuses(db)).values()) == {"sent"}
    to_ann = [c.at for c in sends(tg, ANN)]
    assert to_ann[2] - to_ann[0] >= 2.0


async def test_a_chat_at_its_minute_limit_waits_in_the_outbox(db, tg, make_sender, clock):
    await ChannelRepository(db).upsert(-1001, "channel", None, None)
    ids = [await enqueue(db, -1001, await add_article(db, f"Story {i}")) for i in range(22)]
    pacer = RecordingPacer(None, chat_interval=None)
    sender = make_sender(pacer, hold=2.0, per_chat=100)  # all 22 in memory at once
    await sender.run_until_idle()
    assert len(sends(tg)) == 20
    late = [await status(db, i) for i in ids[20:]]
    assert {r["status"] for r in late} == {"pending"} and {r["attempts"] for r in late} == {0}
    clock.now += 61
    await sender.run_until_idle()
    assert set((await statuses(db)).values()) == {"sent"}


async def test_run_waits_for_wake_and_stops_cleanly(db, tg, make_sender):
    await add_chat(db, ANN)
    sender = make_sender(real_time=True, idle_timeout=60)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await asyncio.sleep(0.05)
    outbox_id = await enqueue(db, ANN, await add_article(db))
    sender.wake()
    await tg.wait_for("sendMessage", timeout=2)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert (await status(db, outbox_id))["status"] == "sent"


async def test_stop_finishes_the_send_in_hand_and_releases_the_rest(db, tg, make_sender):
    await add_chat(db, ANN)
    await add_chat(db, BOB)
    article = await add_article(db)
    in_hand = await enqueue(db, ANN, article)
    waiting = [await enqueue(db, ANN, await add_article(db, f"More {i}")) for i in range(3)]
    tg.hang_next("sendMessage", 0.3)
    sender = make_sender(Pacer(None), real_time=True)  # ANN's next rows wait 1 s each
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    for _ in range(300):  # until the send is in flight (the fake holds it for 0.3 s)
        if sender.in_flight:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 3)
    assert (await status(db, in_hand))["status"] == "sent"
    assert {(await status(db, i))["status"] for i in waiting} == {"pending"}
    assert len(sends(tg)) == 1


async def test_restart_after_a_crash_sends_what_was_in_flight(db, tg, make_sender, outbox):
    await add_chat(db, ANN)
    await add_chat(db, BOB)
    article = await add_article(db)
    ids = [await enqueue(db, ANN, article), await enqueue(db, BOB, article)]
    await outbox.claim(10, START)  # claimed by a sender that was then killed
    assert set((await statuses(db)).values()) == {"sending"}
    sender = make_sender(real_time=True)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await tg.wait_for("sendMessage", lambda c: c.params["chat_id"] == BOB, timeout=3)
    await tg.wait_for("sendMessage", lambda c: c.params["chat_id"] == ANN, timeout=3)
    stop.set()
    await asyncio.wait_for(task, 3)
    assert [(await status(db, i))["status"] for i in ids] == ["sent", "sent"]
    assert len(sends(tg)) == 2


async def test_a_database_error_in_the_loop_does_not_stop_the_sender(db, tg, bot, caplog):
    class FlakyOutbox(OutboxRepository):
        failures = 1

        async def claim(self, limit, now):
            if self.failures:
                self.failures -= 1
                raise sqlite3.OperationalError("disk I/O error")
            return await super().claim(limit, now)

    await add_chat(db, ANN)
    outbox_id = await enqueue(db, ANN, await add_article(db))
    sender = Sender(bot, FlakyOutbox(db), ChatRepository(db), Catalogue.load(), no_limits())
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await asyncio.sleep(0.05)
    sender.wake()  # cuts the pause after the error short
    await tg.wait_for("sendMessage", timeout=3)
    stop.set()
    await asyncio.wait_for(task, 3)
    assert (await status(db, outbox_id))["status"] == "sent"
    assert "disk I/O error" in caplog.text


# --- CHANNEL_IDS seeding and the posting-rights check (bot/delivery/channels.py)


async def test_seed_channels_resolves_usernames_and_keeps_going(db, tg, bot):
    tg.register_chat(-100777, "channel", title="Agency news", username="agency_news")
    tg.register_user(ANN)
    channels = ChannelRepository(db)
    seeded = await seed_channels(bot, channels, ["@agency_news", "-100888", "@missing", str(ANN)])
    assert seeded == [-100777, -100888]
    listed = {c.chat_id: c for c in await channels.list()}
    assert listed[-100777].label == "@agency_news" and listed[-100777].kind == "channel"
    assert listed[-100888].kind == "supergroup"


async def test_seed_channels_keeps_a_numeric_id_when_telegram_is_down(db, tg, bot):
    tg.fail_next("getChat", status=502)
    assert await seed_channels(bot, ChannelRepository(db), ["-100999"]) == [-100999]


async def test_can_post_needs_an_admin_with_post_rights_in_a_channel(tg, bot):
    tg.register_chat(-100777, "channel", title="Agency news")
    channel = await resolve_chat(bot, -100777)
    assert not await can_post(bot, channel)
    tg.set_member(-100777, tg.bot_id, "administrator")
    assert await can_post(bot, channel)
    group = ResolvedChat(-100555, "supergroup", "Group", None)
    assert await can_post(bot, group)
    tg.set_member(-100555, tg.bot_id, "left")
    assert not await can_post(bot, group)


async def test_a_busy_channel_is_spread_within_its_limits(db, tg, make_sender, clock):
    """A backlog of 30 posts for one channel: only two wait in memory at a time, the rest
    in the outbox, and the posts never break 1/s and 20/min."""
    await ChannelRepository(db).upsert(-1001, "channel", None, None)
    await add_chat(db, ANN)
    for i in range(30):
        await enqueue(db, -1001, await add_article(db, f"Story {i}"))
    to_ann = await enqueue(db, ANN, await add_article(db, "For Ann"))
    pacer = RecordingPacer(None)
    sender = make_sender(pacer)
    await sender.run_until_idle()
    assert (await status(db, to_ann))["status"] == "sent"  # not stuck behind the channel
    for _ in range(200):
        if set((await statuses(db)).values()) == {"sent"}:
            break
        clock.now += 1
        await sender.run_until_idle()
    assert set((await statuses(db)).values()) == {"sent"}
    times = [at for chat, at in pacer.taken if chat == -1001]
    assert len(times) == 30 == len(sends(tg, -1001))
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1.0
    assert max(sum(1 for t in times if start <= t < start + 60) for start in times) <= 20
    assert sender.stats.deferred > 0
    assert {r["attempts"] for r in await db.fetch_all("SELECT attempts FROM outbox")} == {0}


async def test_message_rows_are_sent_as_written_and_silent_ones_without_sound(db, tg, make_sender):
    from storage.outbox import queue_message

    await add_chat(db, ANN)
    async with db.transaction() as conn:
        await queue_message(conn, ANN, "<b>Digest</b> &amp; more", STAMP, silent=True)
        await queue_message(conn, ANN, "<b>Loud</b>", STAMP)
    await make_sender().run_until_idle()
    quiet, loud = sends(tg, ANN)
    assert quiet.params["text"] == "<b>Digest</b> &amp; more"
    assert quiet.params["disable_notification"] is True
    assert quiet.params["link_preview_options"] == {"is_disabled": True}
    assert "disable_notification" not in loud.params


async def test_message_row_with_bad_markup_falls_back_to_its_plain_text(db, tg, make_sender):
    from storage.outbox import queue_message

    await add_chat(db, ANN)
    async with db.transaction() as conn:
        await queue_message(conn, ANN, "<b>Digest <unclosed> &amp; more</b>", STAMP)
    await make_sender().run_until_idle()
    failed, plain = sends(tg, ANN)
    assert not failed.ok and plain.ok
    assert plain.params["text"] == "Digest & more" and "parse_mode" not in plain.params


async def test_server_errors_pause_everyone_so_an_outage_does_not_fail_the_queue(
    db, tg, make_sender, clock
):
    """Regression (review): 5xx retried per row burned every queued row's attempts at
    once; a 502 now pauses all sending, so only the row in hand spends an attempt."""
    for chat in (ANN, BOB, CAT):
        await add_chat(db, chat)
    article = await add_article(db)
    for chat in (ANN, BOB, CAT):
        await enqueue(db, chat, article)
    tg.fail_next("sendMessage", status=502)
    started = clock.now
    # One in flight: the others have not left when the 502 comes back (with overlap,
    # requests already under way finish, as SPEC 7.3 has it).
    await make_sender(concurrency=1).run_until_idle()
    rows = await db.fetch_all("SELECT chat_id, status, attempts FROM outbox ORDER BY chat_id")
    assert sum(r["attempts"] for r in rows) == 1
    assert [r["status"] for r in rows] == ["sent", "sent", "sent"]
    assert clock.now - started >= 2  # the others waited out the pause


async def test_seeding_leaves_a_removed_channel_removed(db, tg, bot):
    """Regression (review): every restart re-enabled a channel an admin had removed."""
    tg.register_chat(-100777, "channel", title="Agency")
    channels = ChannelRepository(db)
    assert await seed_channels(bot, channels, ["-100777"]) == [-100777]
    await channels.remove(-100777)
    assert await seed_channels(bot, channels, ["-100777"]) == []
    assert await channels.get(-100777) is None or not (await channels.get(-100777)).target


async def test_a_restart_waits_out_the_rate_window_of_the_last_sends(db, tg, make_sender, clock):
    """The process before may have sent a moment ago (a crash, a quick restart): this
    pacer never saw those sends, so the first one waits until two seconds after the last
    recorded `sent_at` (whole seconds), and no longer."""
    await add_chat(db, ANN)
    await make_sender().run_until_idle()  # nothing sent yet: no wait
    first = await enqueue(db, ANN, await add_article(db, "Story 1"))
    await make_sender().run_until_idle()
    assert (await status(db, first))["status"] == "sent"
    await enqueue(db, ANN, await add_article(db, "Story 2"))
    clock.sleeps.clear()
    stop = asyncio.Event()
    sender = make_sender(idle_timeout=0.01)
    task = asyncio.create_task(sender.run(stop))
    await tg.wait_for("sendMessage", lambda c: len(sends(tg)) == 2, timeout=5)
    stop.set()
    await asyncio.wait_for(task, 3)
    assert 1.0 < clock.sleeps[0] <= 2.0


async def test_a_chat_whose_message_was_in_flight_at_a_crash_waits_its_second(
    db, tg, make_sender, clock
):
    """A row left `sending` by a crash may have reached its chat just before it, after
    the last recorded send: the restarted sender sends to that chat one second after it
    starts at the earliest (Telegram's 1/s a chat), others at once."""
    await add_chat(db, ANN)
    await add_chat(db, BOB)
    article = await add_article(db)
    await enqueue(db, ANN, article)
    await OutboxRepository(db, holder="the process that died").claim(5, clock.wall())
    await enqueue(db, BOB, article)
    pacer = RecordingPacer(None, chat_interval=1.0, group_limit=None)
    started = clock()
    stop = asyncio.Event()
    task = asyncio.create_task(make_sender(pacer, idle_timeout=0.01).run(stop))
    await tg.wait_for("sendMessage", lambda c: len(sends(tg)) == 2, timeout=5)
    stop.set()
    await asyncio.wait_for(task, 3)
    when = dict(pacer.taken)
    assert when[BOB] - started < 0.5
    assert when[ANN] - started >= 1.0


async def test_held_rows_have_their_leases_renewed_while_the_sender_runs(
    db, tg, make_sender, outbox, clock, monkeypatch
):
    """Rows wait in memory for the pace (here 1 a second): their leases are renewed
    every few seconds, beside the dispatcher, so no other copy takes them meanwhile."""
    renewals: list[datetime] = []
    renew = outbox.renew_leases

    async def counted(now: datetime) -> int:
        renewals.append(now)
        return await renew(now)

    monkeypatch.setattr(outbox, "renew_leases", counted)
    for i in range(12):
        await add_chat(db, 3000 + i)
        await enqueue(db, 3000 + i, await add_article(db, f"Story {i}"))
    await make_sender(Pacer(1)).run_until_idle()
    assert set((await statuses(db)).values()) == {"sent"}
    assert len(renewals) >= 2
    assert all(b - a >= timedelta(seconds=5) for a, b in itertools.pairwise(renewals))


# ------------------------------------------------------------------ pictures (SPEC 7.5)

PICTURE = "https://img.example/upload/1.jpg"


async def add_picture(db, article_id: int, image: str = PICTURE) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE articles SET image = ? WHERE article_id = ?", (image, article_id)
        )


async def test_a_channel_gets_the_picture_with_the_post_as_caption(db, tg, make_sender):
    tg.photo_ids.add(PICTURE)  # Telegram can use it (the e2e tests serve real URLs)
    await ChannelRepository(db).upsert(-1001, "channel", "Agency", None)
    await add_chat(db, ANN)
    article = await add_article(db, "Экспорт " + "станков " * 40, topics=("trade",))
    await add_picture(db, article)
    async with db.transaction() as conn:  # a summary far over the caption's room
        await conn.execute("UPDATE articles SET summary = ?", ("Подробности. " * 200,))
    to_channel = await enqueue(db, -1001, article)
    to_ann = await enqueue(db, ANN, article)
    sender = make_sender()
    await sender.run_until_idle()
    (photo,) = tg.calls_of("sendPhoto")
    assert photo.ok and photo.params["photo"] == PICTURE
    assert photo.params["parse_mode"] == "HTML"
    caption = tg.get_message(-1001, photo.result["message_id"])["caption"]
    assert len(caption) <= 1024
    assert caption.endswith("Читать статью")  # the link stays (a channel is ru by default)
    assert "…" in caption
    assert photo.result["caption_entities"][-1]["url"].startswith("https://niann.example/")
    # The reader's push stays a text message with the article's preview.
    (text,) = sends(tg, ANN)
    assert text.params["link_preview_options"]["is_disabled"] is False
    assert (await status(db, to_channel))["photo"] == 1
    assert (await status(db, to_ann))["photo"] == 0


@pytest.mark.parametrize(
    "refusal",
    [
        "Bad Request: wrong file identifier/HTTP URL specified",
        "Bad Request: failed to get HTTP URL content",
        "Bad Request: wrong type of the web page content",
        "Bad Request: PHOTO_INVALID_DIMENSIONS",
        "Bad Request: message caption is too long",
        # A group that allows text but not photos: the chat stays, the picture goes.
        "Bad Request: not enough rights to send photos to the chat",
    ],
)
async def test_a_refused_picture_becomes_the_text_post_in_the_same_row(
    db, tg, make_sender, refusal
):
    channels = ChannelRepository(db)
    await channels.upsert(-1001, "channel", "Agency", None)
    article = await add_article(db)
    await add_picture(db, article)
    row = await enqueue(db, -1001, article)
    tg.fail_next("sendPhoto", status=400, description=refusal)
    sender = make_sender()
    await sender.run_until_idle()
    (photo,) = tg.calls_of("sendPhoto")
    assert not photo.ok
    (text,) = sends(tg, -1001)
    assert text.ok and text.params["text"].startswith("<b>Exports to China grew</b>")
    assert text.params["link_preview_options"] == {
        "is_disabled": False,
        "url": "https://niann.example/21",
    }
    stored = await status(db, row)
    assert stored["status"] == "sent" and stored["photo"] == 0
    assert stored["message_id"] == text.result["message_id"]
    assert sender.stats.photo_fallbacks == 1 and sender.stats.sent == 1
    assert (await channels.get(-1001)).active and sender.stats.deactivated == 0


async def test_a_photo_gets_longer_than_a_text_to_be_answered(db, tg, make_sender):
    """Telegram answers sendPhoto only after downloading the picture: a slow answer is
    waited for (PHOTO_REQUEST_TIMEOUT), not taken for a lost request and sent again."""
    tg.photo_ids.add(PICTURE)
    await ChannelRepository(db).upsert(-1001, "channel", "Agency", None)
    article = await add_article(db)
    await add_picture(db, article)
    row = await enqueue(db, -1001, article)
    tg.hang_next("sendPhoto", 1.5)  # longer than a text may take here
    await make_sender(request_timeout=1).run_until_idle()
    assert [call.ok for call in tg.calls_of("sendPhoto")] == [True]
    stored = await status(db, row)
    assert (stored["status"], stored["photo"], stored["attempts"]) == ("sent", 1, 0)


async def test_a_photo_refused_because_the_chat_is_gone_drops_the_chat(db, tg, make_sender):
    channels = ChannelRepository(db)
    await channels.upsert(-1001, "channel", "Agency", None)
    article = await add_article(db)
    await add_picture(db, article)
    row = await enqueue(db, -1001, article)
    tg.fail_next("sendPhoto", status=400, description="Bad Request: chat not found")
    sender = make_sender()
    await sender.run_until_idle()
    assert sends(tg, -1001) == [] and sender.stats.photo_fallbacks == 0
    assert not (await channels.get(-1001)).active
    assert (await status(db, row))["status"] == "dropped"


async def test_a_caption_with_bad_markup_is_retried_plain_before_giving_up_the_picture(
    db, tg, make_sender
):
    tg.photo_ids.add(PICTURE)
    await ChannelRepository(db).upsert(-1001, "channel", "Agency", None)
    article = await add_article(db)
    await add_picture(db, article)
    row = await enqueue(db, -1001, article)
    refusal = "Bad Request: can't parse entities: Unsupported start tag at byte offset 3"
    tg.fail_next("sendPhoto", status=400, description=refusal)
    await make_sender().run_until_idle()
    html_try, plain_try = tg.calls_of("sendPhoto")
    assert not html_try.ok and plain_try.ok and "parse_mode" not in plain_try.params
    assert (await status(db, row))["photo"] == 1
    assert sends(tg, -1001) == []


async def test_only_channels_with_photos_on_get_a_photo(db, tg, make_sender):
    """Photos off and readers (whatever their language) get text, while the channel with
    photos on gets the photo of the same article: the caption and the text, rendered for
    the same language, are kept apart."""
    tg.photo_ids.add(PICTURE)
    channels = ChannelRepository(db)
    await channels.upsert(-1001, "channel", "Agency", None)
    await channels.upsert(-1002, "supergroup", "Desk", None)
    await channels.configure(-1002, photos=False)
    await add_chat(db, ANN)
    await add_chat(db, BOB, language="ru")
    article = await add_article(db)
    await add_picture(db, article)
    async with db.transaction() as conn:  # a text post far longer than a caption
        await conn.execute("UPDATE articles SET summary = ?", ("Подробности. " * 200,))
    for chat in (-1001, -1002, ANN, BOB):
        await enqueue(db, chat, article)
    await make_sender().run_until_idle()
    (photo,) = tg.calls_of("sendPhoto")
    assert photo.ok and photo.params["chat_id"] == -1001
    assert sorted(c.params["chat_id"] for c in sends(tg) if c.ok) == sorted([-1002, ANN, BOB])
    russian_text = sends(tg, BOB)[0].params["text"]
    assert sends(tg, -1002)[0].params["text"] == russian_text
    assert len(russian_text) > 2000 > 1024 >= len(photo.result["caption"])


async def test_a_reader_with_previews_off_gets_no_preview(db, tg, make_sender):
    await add_chat(db, ANN)
    await add_chat(db, BOB)
    await ChatRepository(db).set_previews(BOB, False)
    article = await add_article(db)
    await enqueue(db, ANN, article)
    await enqueue(db, BOB, article)
    await make_sender().run_until_idle()
    assert sends(tg, ANN)[0].params["link_preview_options"]["is_disabled"] is False
    assert sends(tg, BOB)[0].params["link_preview_options"] == {"is_disabled": True}
    assert sends(tg, BOB)[0].params["text"] == sends(tg, ANN)[0].params["text"]
