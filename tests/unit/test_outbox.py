from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from storage.channels import ChannelRepository, queue_article
from storage.database import Database
from storage.outbox import LEASE, Failed, OutboxRepository, Retry, Sent

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
STAMP = NOW.isoformat(timespec="seconds")


@pytest.fixture
def outbox(db) -> OutboxRepository:
    return OutboxRepository(db)


async def add_chat(db, chat_id, *, kind="private", language="en", active=1, paused=0, thread=None):
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO chats (chat_id, kind, language, active, paused, thread_id, target,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (chat_id, kind, language, active, paused, thread, int(kind != "private"), STAMP, STAMP),
        )


async def add_article(db, title="Title", *, topics=("china", "trade"), feed="niann") -> int:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO feeds (url, name, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (f"https://{feed}.example/rss", feed, STAMP),
        )
        return await conn.fetch_value(
            "INSERT INTO articles (feed_id, link, title, title_key, summary, stored_at, topics)"
            " VALUES ((SELECT feed_id FROM feeds WHERE name = ?), ?, ?, ?, 'Summary', ?, ?)"
            " RETURNING article_id",
            (feed, f"https://{feed}.example/{title}", title, title, STAMP, " ".join(topics)),
        )


async def enqueue(db, chat_id, article_id, *, priority=0, status="pending", not_before=None):
    async with db.transaction() as conn:
        return await conn.fetch_value(
            "INSERT INTO outbox (chat_id, article_id, priority, status, not_before, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING outbox_id",
            (chat_id, article_id, priority, status, not_before, STAMP),
        )


async def row(db, outbox_id):
    return await db.fetch_one("SELECT * FROM outbox WHERE outbox_id = ?", (outbox_id,))


async def test_claim_gives_priority_then_oldest_and_marks_sending(db, outbox):
    await add_chat(db, 1)
    articles = [await add_article(db, f"a{i}") for i in range(4)]
    first = await enqueue(db, 1, articles[0])
    second = await enqueue(db, 1, articles[1])
    urgent = await enqueue(db, 1, articles[2], priority=10)
    await enqueue(db, 1, articles[3])
    claimed = await outbox.claim(3, NOW)
    assert [r.outbox_id for r in claimed] == [urgent, first, second]
    assert {(await row(db, r.outbox_id))["status"] for r in claimed} == {"sending"}
    rest = await outbox.claim(10, NOW)
    assert len(rest) == 1 and await outbox.claim(10, NOW) == []


async def test_claim_carries_what_rendering_needs(db, outbox):
    await add_chat(db, -100500, kind="supergroup", language="ru", thread=7)
    article = await add_article(db, "Экспорт", topics=("china", "trade"))
    await enqueue(db, -100500, article)
    (claimed,) = await outbox.claim(10, NOW)
    assert claimed.title == "Экспорт" and claimed.summary == "Summary"
    assert claimed.link == "https://niann.example/Экспорт"
    assert claimed.source == "niann"
    assert claimed.topics == ("china", "trade")
    assert (claimed.chat_kind, claimed.language, claimed.thread_id) == ("supergroup", "ru", 7)
    assert not claimed.is_private


async def test_claim_waits_for_not_before(db, outbox):
    await add_chat(db, 1)
    later = (NOW + timedelta(seconds=30)).isoformat(timespec="seconds")
    outbox_id = await enqueue(db, 1, await add_article(db), not_before=later)
    assert await outbox.claim(10, NOW) == []
    assert [r.outbox_id for r in await outbox.claim(10, NOW + timedelta(seconds=30))] == [outbox_id]


async def test_claim_drops_rows_of_chats_that_left_or_paused(db, outbox):
    await add_chat(db, 1, active=0)
    await add_chat(db, 2, paused=1)
    await add_chat(db, 3)
    article = await add_article(db)
    gone = [await enqueue(db, 1, article), await enqueue(db, 2, article)]
    live = await enqueue(db, 3, article)
    assert [r.outbox_id for r in await outbox.claim(10, NOW)] == [live]
    assert [(await row(db, i))["status"] for i in gone] == ["dropped", "dropped"]


async def test_results_single_and_batched(db, outbox):
    await add_chat(db, 1)
    ids = [await enqueue(db, 1, await add_article(db, f"a{i}")) for i in range(5)]
    await outbox.claim(10, NOW)
    await outbox.mark_sent(ids[0], 77, NOW)
    await outbox.retry_later(ids[1], "TelegramServerError: Bad Gateway", NOW + timedelta(seconds=2))
    await outbox.mark_failed(ids[2], "TelegramBadRequest: message thread not found")
    await outbox.record(
        [Sent(ids[3], 78, NOW), Retry(ids[4], NOW + timedelta(seconds=3), attempt=False)]
    )
    sent, retry, failed, sent2, deferred = [await row(db, i) for i in ids]
    assert (sent["status"], sent["message_id"], sent["sent_at"]) == ("sent", 77, STAMP)
    assert (retry["status"], retry["attempts"]) == ("pending", 1)
    assert retry["not_before"] == "2025-03-01T12:00:02+00:00"
    assert retry["last_error"] == "TelegramServerError: Bad Gateway"
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert "thread not found" in failed["last_error"]
    assert (sent2["status"], sent2["message_id"]) == ("sent", 78)
    assert (deferred["status"], deferred["attempts"]) == ("pending", 0)
    assert deferred["last_error"] is None
    await outbox.record([])  # nothing to do is fine
    assert await outbox.counts() == {
        "pending": 2,
        "sending": 0,
        "sent": 2,
        "failed": 1,
        "dropped": 0,
    }
    assert await outbox.pending_count() == 2
    await db.execute(
        "UPDATE outbox SET status = 'sending' WHERE outbox_id = ?", (ids[1],)
    )
    await outbox.record([Failed(ids[1], "x" * 2000)])
    assert len((await row(db, ids[1]))["last_error"]) == 500


async def test_drop_chat_keeps_history(db, outbox):
    await add_chat(db, 1)
    await add_chat(db, 2)
    a, b, c = [await add_article(db, f"a{i}") for i in range(3)]
    done = await enqueue(db, 1, a, status="sent")
    in_flight = await enqueue(db, 1, b, status="sending")
    waiting = await enqueue(db, 1, c)
    other = await enqueue(db, 2, c)
    assert await outbox.drop_chat(1, "TelegramForbiddenError: bot was blocked by the user") == 2
    assert [(await row(db, i))["status"] for i in (done, in_flight, waiting, other)] == [
        "sent",
        "dropped",
        "dropped",
        "pending",
    ]
    assert "blocked" in (await row(db, waiting))["last_error"]


async def test_crash_leaves_sending_rows_that_release_in_flight_requeues(db, outbox):
    await add_chat(db, 1)
    ids = [await enqueue(db, 1, await add_article(db, f"a{i}")) for i in range(3)]
    await outbox.claim(2, NOW)  # ... and the process dies here
    assert (await outbox.counts())["sending"] == 2
    reopened = OutboxRepository(db, holder="the next process")
    if db.dialect == "sqlite":  # one copy per file: the rows were the dead process's
        assert sorted(await reopened.release_in_flight(NOW)) == [1, 1]
        assert [r.outbox_id for r in await reopened.claim(10, NOW)] == ids
    else:  # another copy may still be sending them: they wait for their lease
        assert await reopened.release_in_flight(NOW) == []
        assert [r.outbox_id for r in await reopened.claim(10, NOW)] == ids[2:]
        assert [r.outbox_id for r in await reopened.claim(10, NOW + LEASE)] == ids[:2]
    assert await reopened.release(ids[:1]) == 1
    assert (await row(db, ids[0]))["status"] == "pending"


async def test_a_lease_run_out_is_claimed_by_another_copy_never_by_its_own(db):
    await add_chat(db, 1)
    ids = [await enqueue(db, 1, await add_article(db, f"a{i}")) for i in range(3)]
    leader, successor = OutboxRepository(db, holder="a:1"), OutboxRepository(db, holder="b:2")
    assert [r.outbox_id for r in await leader.claim(2, NOW)] == ids[:2]
    late = NOW + LEASE + timedelta(seconds=1)
    # Its own rows stay its own however long the send takes: claimed once.
    assert [r.outbox_id for r in await leader.claim(10, late)] == ids[2:]
    assert await successor.claim(10, NOW + LEASE - timedelta(seconds=1)) == []
    assert sorted(r.outbox_id for r in await successor.claim(10, late)) == ids[:2]
    assert {(await row(db, i))["claimed_by"] for i in ids[:2]} == {"b:2"}


async def test_move_chat_renames_and_keeps_queue_and_subscriptions(db, outbox):
    channels = ChannelRepository(db)
    await channels.upsert(-5, "group", "Old group", None, topics=["china"])
    article = await add_article(db)
    queued = await enqueue(db, -5, article)
    await outbox.move_chat(-5, -1005, NOW)
    assert await db.fetch_one("SELECT 1 FROM chats WHERE chat_id = -5") is None
    moved = await channels.get(-1005)
    assert (moved.kind, moved.title, moved.topics) == ("supergroup", "Old group", ("china",))
    assert (await row(db, queued))["chat_id"] == -1005


async def test_move_chat_merges_into_a_supergroup_already_known(db, outbox):
    channels = ChannelRepository(db)
    await channels.upsert(-5, "group", "Old group", None, topics=["china"])
    await add_chat(db, -1005, kind="supergroup")
    article = await add_article(db)
    queued = await enqueue(db, -5, article)
    await outbox.move_chat(-5, -1005, NOW)
    merged = await channels.get(-1005)
    assert merged is not None and merged.topics == ("china",) and merged.title == "Old group"
    assert (await row(db, queued))["chat_id"] == -1005
    assert await db.fetch_one("SELECT 1 FROM chats WHERE chat_id = -5") is None


async def test_move_chat_into_a_supergroup_seen_as_a_reader_keeps_language_and_photos(
    db, outbox
):
    """The bot knew the supergroup (not as a target): the group's channel settings win."""
    channels = ChannelRepository(db)
    await channels.upsert(-5, "group", "Old group", None, language="en")
    await channels.configure(-5, photos=False)
    await add_chat(db, -1005, kind="supergroup", language="ru")
    async with db.transaction() as conn:
        await conn.execute("UPDATE chats SET target = 0 WHERE chat_id = -1005")
    await outbox.move_chat(-5, -1005, NOW)
    merged = await channels.get(-1005)
    assert merged is not None and (merged.language, merged.photos) == ("en", False)


# --- channel targets: the fan-out the article store calls in its transaction (SPEC 8.4)


async def test_channel_fan_out_respects_topic_filters(db):
    channels = ChannelRepository(db)
    await channels.upsert(-1001, "channel", "All news", "all_news")
    await channels.upsert(-1002, "channel", "China desk", None, topics=["china"])
    await channels.upsert(-1003, "supergroup", "Pharma", None, thread_id=42, topics=["pharma"])
    await channels.upsert(-1004, "channel", "Gone", None)
    await channels.remove(-1004)
    await add_chat(db, 1)  # a reader: never reached by the channel fan-out
    article = await add_article(db, topics=("china", "trade"))
    untagged = await add_article(db, "untagged", topics=())
    async with db.transaction() as conn:
        assert await queue_article(conn, article, ["china", "trade"], NOW) == 2
        assert await queue_article(conn, article, ["china", "trade"], STAMP) == 0  # once
        assert await queue_article(conn, untagged, [], NOW) == 0
    rows = await db.fetch_all("SELECT chat_id FROM outbox ORDER BY chat_id")
    assert [r["chat_id"] for r in rows] == [-1002, -1001]


async def test_channel_fan_out_skips_inactive_targets(db):
    channels = ChannelRepository(db)
    await channels.upsert(-1001, "channel", None, None)
    async with db.transaction() as conn:
        await conn.execute("UPDATE chats SET active = 0 WHERE chat_id = -1001")
    article = await add_article(db)
    async with db.transaction() as conn:
        assert await channels.queue_article(conn, article, ["china"], NOW, priority=5) == 0
    await channels.upsert(-1001, "channel", None, None)  # re-adding re-activates
    async with db.transaction() as conn:
        assert await channels.queue_article(conn, article, ["china"], NOW, priority=5) == 1
    assert (await db.fetch_one("SELECT priority FROM outbox"))["priority"] == 5


async def test_channel_upsert_keeps_filter_unless_given(db):
    channels = ChannelRepository(db)
    first = await channels.upsert(-1001, "channel", "Agency", "@agency", topics=["trade", "china"])
    assert (first.label, first.topics, first.language) == ("@agency", ("china", "trade"), "ru")
    again = await channels.upsert(-1001, "channel", None, None)  # seeding at start-up
    assert again.topics == ("china", "trade") and again.title == "Agency"
    cleared = await channels.upsert(-1001, "channel", None, None, topics=[])
    assert cleared.topics == ()
    assert [c.chat_id for c in await channels.list()] == [-1001]
    assert (await channels.find("@AGENCY")).chat_id == -1001
    assert (await channels.find("-1001")).chat_id == -1001
    assert await channels.find("nonsense") is None
    with pytest.raises(ValueError):
        await channels.upsert(1001, "private", None, None)
    with pytest.raises(ValueError):
        await channels.upsert(1001, "channel", None, None)


async def test_channel_remove_drops_its_queue(db):
    channels = ChannelRepository(db)
    await channels.upsert(-1001, "channel", None, None, topics=["china"])
    queued = await enqueue(db, -1001, await add_article(db))
    assert await channels.remove(-1001)
    assert not await channels.remove(-1001)
    assert await channels.list() == []
    assert (await row(db, queued))["status"] == "dropped"
    assert await db.fetch_all("SELECT * FROM subscriptions") == []


async def test_claim_fills_the_batch_past_dropped_rows(db, outbox):
    await add_chat(db, 1, active=0)
    await add_chat(db, 2)
    articles = [await add_article(db, f"a{i}") for i in range(3)]
    for article in articles:
        await enqueue(db, 1, article)
    live = [await enqueue(db, 2, article) for article in articles[:2]]
    assert [r.outbox_id for r in await outbox.claim(2, NOW)] == live


async def test_move_chat_twice_is_harmless(db, outbox):
    await ChannelRepository(db).upsert(-5, "group", None, None)
    await outbox.move_chat(-5, -1005, NOW)
    await outbox.move_chat(-5, -1005, NOW)  # a second send learned it at the same time
    assert [r["chat_id"] for r in await db.fetch_all("SELECT chat_id FROM chats")] == [-1005]


async def test_message_rows_carry_their_own_text_and_silence(tmp_path):
    """Digests and notices: rows with text instead of an article (migration 0004)."""
    from storage.outbox import OutboxRepository, queue_message

    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO chats (chat_id, created_at, updated_at) VALUES (7, 'x', 'x')"
            )
            await queue_message(conn, 7, "<b>Digest</b>", "2026-11-26T08:00:00+00:00", silent=True)
        (row,) = await OutboxRepository(db).claim(10, datetime(2026, 11, 26, 9, tzinfo=UTC))
        assert (row.chat_id, row.article_id, row.text, row.silent) == (
            7,
            None,
            "<b>Digest</b>",
            True,
        )
        assert row.title == "" and row.topics == ()
    finally:
        await db.close()


async def test_results_never_revive_a_dropped_row(db, outbox):
    """Regression: a retry recorded after the chat's rows were dropped put them back."""
    await add_chat(db, 1)
    first, second = [await enqueue(db, 1, await add_article(db, f"a{i}")) for i in range(2)]
    await outbox.claim(10, NOW)
    await outbox.drop_chat(1, "blocked")
    await outbox.record(
        [Retry(first, NOW + timedelta(seconds=3), attempt=True), Failed(second, "x")]
    )
    assert [(await row(db, i))["status"] for i in (first, second)] == ["dropped", "dropped"]


async def test_removed_channel_rows_are_dropped_at_claim(db, outbox):
    await add_chat(db, -100700, kind="channel")
    queued = await enqueue(db, -100700, await add_article(db))
    await db.execute("UPDATE chats SET target = 0 WHERE chat_id = -100700")
    assert await outbox.claim(10, NOW) == []
    assert (await row(db, queued))["status"] == "dropped"


async def test_two_copies_claiming_at_once_never_take_the_same_row(pg_server):
    """PostgreSQL: claims lock rows with FOR UPDATE SKIP LOCKED, so two processes' senders
    (two pools here, each with its own write lock) split the queue between them."""
    url = await pg_server.create_database()
    first, second = await Database.open(url), await Database.open(url)
    try:
        article = await add_article(first)
        chats = range(1, 201)
        for chat_id in chats:
            await add_chat(first, chat_id)
        async with first.transaction() as conn:
            await conn.executemany(
                "INSERT INTO outbox (chat_id, article_id, created_at) VALUES (?, ?, ?)",
                [(chat_id, article, STAMP) for chat_id in chats],
            )
        claims = [OutboxRepository(db).claim(7, NOW) for _ in range(20) for db in (first, second)]
        claimed = [row.outbox_id for batch in await asyncio.gather(*claims) for row in batch]
        assert len(claimed) == len(set(claimed)) == len(chats)
    finally:
        await first.close()
        await second.close()


async def test_a_lost_leaders_late_writes_leave_its_successors_rows_alone(db):
    """A fenced leader still flushes its results and releases what it held: rows another
    copy took over since must stay that copy's, or it would claim and send them twice."""
    await add_chat(db, 1)
    ids = [await enqueue(db, 1, await add_article(db, f"a{i}")) for i in range(2)]
    leader, successor = OutboxRepository(db, holder="a:1"), OutboxRepository(db, holder="b:2")
    await leader.claim(10, NOW)
    assert len(await successor.claim(10, NOW + LEASE + timedelta(seconds=1))) == 2
    assert await leader.release(ids) == 0
    await leader.record([Retry(ids[0], None, "late"), Failed(ids[1], "late")])
    for outbox_id in ids:
        state = await row(db, outbox_id)
        assert (state["status"], state["claimed_by"]) == ("sending", "b:2")


async def test_renewed_leases_keep_a_live_leaders_rows(db):
    await add_chat(db, 1)
    await enqueue(db, 1, await add_article(db))
    leader, successor = OutboxRepository(db, holder="a:1"), OutboxRepository(db, holder="b:2")
    await leader.claim(10, NOW)
    assert await leader.renew_leases(NOW + timedelta(seconds=10)) == 1
    assert await successor.claim(10, NOW + LEASE + timedelta(seconds=1)) == []
    later = NOW + timedelta(seconds=10) + LEASE
    assert len(await successor.claim(10, later)) == 1  # renewals stopped: it passes on


async def test_a_groups_move_waits_for_a_transaction_queueing_for_it(pg_server):
    """PostgreSQL's outbox has no foreign keys (migration 0012), but a group's row still
    locks its chat: the sender's move to a supergroup waits for the poller's transaction
    and then carries its row over, instead of leaving it on a chat that is gone."""
    url = await pg_server.create_database()
    poller, sender = await Database.open(url), await Database.open(url)
    try:
        await ChannelRepository(poller).upsert(-5, "group", "Old group", None, topics=["china"])
        article = await add_article(poller)
        queued, release = asyncio.Event(), asyncio.Event()

        async def store() -> None:
            async with poller.transaction() as conn:
                assert await queue_article(conn, article, ["china"], NOW) == 1
                queued.set()
                await release.wait()

        storing = asyncio.create_task(store())
        await queued.wait()
        moving = asyncio.create_task(OutboxRepository(sender).move_chat(-5, -1005, NOW))
        waiting = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        while not await poller.fetch_value(waiting):  # the move is blocked on the chat row
            assert not moving.done(), "the move did not wait for the queueing transaction"
            await asyncio.sleep(0.01)
        release.set()
        await storing
        await moving
        rows = await sender.fetch_all("SELECT chat_id FROM outbox")
        assert [r["chat_id"] for r in rows] == [-1005]
        with pytest.raises(Exception, match="not in chats"):
            async with sender.transaction() as conn:
                await conn.execute(
                    "INSERT INTO outbox (chat_id, article_id, created_at) VALUES (-77, ?, ?)",
                    (article, STAMP),
                )
    finally:
        await poller.close()
        await sender.close()
