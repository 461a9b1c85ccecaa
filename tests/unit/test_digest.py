"""Digests (SPEC 4.11) and quiet hours (4.12) below the bot: fan-out, the digest
transaction, the job's decisions, rendering, and silence decided at claim time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.delivery.render import visible_length
from bot.digest import MAX_ENTITIES, MAX_HTML_LENGTH, DigestJob, render_digest
from bot.i18n import Catalogue
from bot.topics.taxonomy import default_topics_path, load_taxonomy
from storage.articles import ArticleRepository, Candidate
from storage.outbox import OutboxRepository
from storage.schedules import DigestArticle, ScheduleRepository
from storage.subscriptions import SubscriptionRepository

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # 14:00 in Berlin, 15:00 in Moscow
STAMP = NOW.isoformat(timespec="seconds")
INSTANT, DIGEST, PAUSED = 1, 2, 3
TAXONOMY = load_taxonomy(default_topics_path())
CATALOGUE = Catalogue.load()


async def add_reader(db, chat_id, *, digest=None, timezone=None, paused=0, quiet=(None, None)):
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO chats (chat_id, kind, language, paused, digest_time, timezone,"
            " quiet_start, quiet_end, created_at, updated_at)"
            " VALUES (?, 'private', 'en', ?, ?, ?, ?, ?, ?, ?)",
            (chat_id, paused, digest, timezone, *quiet, STAMP, STAMP),
        )
    await SubscriptionRepository(db).add(chat_id, "topic", "china", "china", 50)


async def store(db, *titles, now=NOW) -> list[int]:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO feeds (feed_id, url, name, created_at)"
            " VALUES (1, 'https://a.example/rss', 'a', ?) ON CONFLICT DO NOTHING",
            (STAMP,),
        )
    candidates = [
        Candidate(
            item_key=title,
            link=f"https://a.example/{n}?a=1&b=2",
            canonical_link=f"https://a.example/{title}",
            title=title,
            title_key=title,
            summary="",
            published=now + timedelta(minutes=n),
            topics=frozenset({"china"}),
            keywords=frozenset(),
            fresh=True,
        )
        for n, title in enumerate(titles)
    ]
    await ArticleRepository(db).store(
        1, "a", candidates, push=True, now=now, dedup_since=now - timedelta(days=2)
    )
    rows = await db.fetch_all("SELECT article_id FROM articles ORDER BY article_id")
    return [r[0] for r in rows]


async def outbox_rows(db):
    return [
        tuple(r)
        for r in await db.fetch_all(
            "SELECT chat_id, article_id, text IS NOT NULL FROM outbox ORDER BY outbox_id"
        )
    ]


async def digest_items(db):
    rows = await db.fetch_all("SELECT chat_id, article_id FROM digest_items ORDER BY 1, 2")
    return [tuple(r) for r in rows]


def job(db, clock=lambda: NOW, **kwargs) -> DigestJob:
    return DigestJob(
        ScheduleRepository(db), CATALOGUE, TAXONOMY, "Europe/Moscow", clock=clock, **kwargs
    )


async def test_fan_out_pushes_to_instant_readers_and_keeps_for_digest_readers(db):
    await add_reader(db, INSTANT)
    await add_reader(db, DIGEST, digest="08:00")
    await add_reader(db, PAUSED, digest="08:00", paused=1)
    (article,) = await store(db, "Китай и Нижний")
    assert await outbox_rows(db) == [(INSTANT, article, 0)]
    assert await digest_items(db) == [(DIGEST, article)]


async def test_due_digest_is_queued_once_and_clears_the_kept_articles(db):
    await add_reader(db, DIGEST, digest="14:00", timezone="Europe/Berlin")
    ids = await store(db, "First <b>story</b>", "Second & last")
    woken = []
    digests = job(db, on_queued=lambda: woken.append(1))
    assert await digests.run_due() == 1
    ((chat, article, has_text),) = await outbox_rows(db)
    assert (chat, article, has_text) == (DIGEST, None, 1)
    text = (await db.fetch_one("SELECT text FROM outbox"))[0]
    # Newest first, grouped under the topic, titles escaped, links escaped.
    assert text.index("Second &amp; last") < text.index("First &lt;b&gt;story&lt;/b&gt;")
    assert "🇨🇳" in text and 'href="https://a.example/1?a=1&amp;b=2"' in text
    assert await digest_items(db) == []
    last = await db.fetch_one("SELECT last_digest_on FROM chats WHERE chat_id = ?", (DIGEST,))
    assert last[0] == "2026-06-01"
    assert woken == [1]
    # The job runs again the same day, or runs twice at once: nothing more.
    assert await digests.run_due() == 0
    assert await digests.run_for(DIGEST) == 0
    assert len(await outbox_rows(db)) == 1
    assert len(ids) == 2


async def test_digest_waits_for_the_readers_local_time(db):
    await add_reader(db, DIGEST, digest="14:30", timezone="Europe/Berlin")  # 14:00 there
    await add_reader(db, INSTANT + 10, digest="14:30", timezone="Europe/Moscow")  # 15:00 there
    await store(db, "Story")
    assert await job(db).run_due() == 1
    assert [r[0] for r in await outbox_rows(db)] == [INSTANT + 10]
    assert await digest_items(db) == [(DIGEST, 1)]
    later = job(db, clock=lambda: NOW + timedelta(minutes=30))
    assert await later.run_due() == 1
    assert [r[0] for r in await outbox_rows(db)] == [INSTANT + 10, DIGEST]


async def test_empty_day_sends_nothing_but_is_done(db):
    await add_reader(db, DIGEST, digest="08:00")
    assert await job(db).run_due() == 0
    assert await outbox_rows(db) == []
    last = await db.fetch_one("SELECT last_digest_on FROM chats WHERE chat_id = ?", (DIGEST,))
    assert last[0] == "2026-06-01"  # the local date in the TIMEZONE setting's zone


async def test_paused_reader_gets_no_digest(db):
    await add_reader(db, DIGEST, digest="08:00")
    await store(db, "Story")
    await db.execute("UPDATE chats SET paused = 1")
    assert await job(db).run_due() == 0
    assert await outbox_rows(db) == []
    assert await digest_items(db) == []


async def test_digest_off_queues_the_kept_articles_as_pushes(db):
    await add_reader(db, DIGEST, digest="23:00")
    (article,) = await store(db, "Story")
    assert await ScheduleRepository(db).digest_off(DIGEST, NOW) == 1
    assert await outbox_rows(db) == [(DIGEST, article, 0)]
    assert await digest_items(db) == []
    (second,) = (await store(db, "Other story"))[1:]
    assert (DIGEST, second, 0) in await outbox_rows(db)


def article(n, title="Title", topics=("china",)):
    return DigestArticle(n, title, f"https://a.example/{n}", topics)


def test_render_groups_by_topic_the_reader_follows_then_other():
    t = CATALOGUE.translator("en")
    articles = [
        article(3, "India story", ("india",)),
        article(2, "Keyword story", ()),
        article(1, "China and trade", ("china", "trade")),
    ]
    (text,) = render_digest(t, TAXONOMY, frozenset({"china"}), articles)
    lines = text.splitlines()
    assert "3 articles" in lines[0]
    headings = [line for line in lines if line.startswith("<b>") and "digest" not in line]
    assert [h for h in headings] == ["<b>🇨🇳 China</b>", "<b>🇮🇳 India</b>", "<b>Other</b>"]
    assert text.index("China and trade") < text.index("India story") < text.index("Keyword")


def test_render_splits_only_past_the_limit():
    t = CATALOGUE.translator("ru")
    few = [article(n, "Заголовок " * 5) for n in range(10)]
    assert len(render_digest(t, TAXONOMY, frozenset(), few)) == 1
    many = [article(n, "Длинный заголовок статьи " * 8) for n in range(200)]
    messages = render_digest(t, TAXONOMY, frozenset(), many)
    assert len(messages) > 1
    assert all(visible_length(m) <= 4096 for m in messages)
    assert sum(m.count("<a href") for m in messages) == 200
    assert not render_digest(t, TAXONOMY, frozenset(), [])


def test_digest_with_many_short_items_stays_under_telegrams_entity_count():
    # 300 one-word titles fit 4096 visible characters, but Telegram formats only the first
    # 100 entities of a message: the rest of the links would be lost.
    t = CATALOGUE.translator("en")
    many = [article(n, "T", ("china",) if n % 2 else ("india",)) for n in range(300)]
    messages = render_digest(t, TAXONOMY, frozenset(), many)
    assert len(messages) > 1
    for message in messages:
        assert message.count("<a ") + message.count("<b>") <= MAX_ENTITIES
        assert not message.startswith("\n") and not message.endswith("\n")
    assert sum(m.count("<a href") for m in messages) == 300
    assert "".join(messages).count("<b>🇨🇳 China</b>") == 1


def test_digest_with_long_links_stays_under_telegrams_entity_length():
    # Short titles with long URLs: few visible characters and few entities, but the URLs
    # add up past ENTITIES_TOO_LONG, and the whole message would go out as plain text.
    t = CATALOGUE.translator("en")
    links = [
        DigestArticle(n, f"Story {n}", f"https://a.example/{n}/" + "x" * 500, ("china",))
        for n in range(60)
    ]
    messages = render_digest(t, TAXONOMY, frozenset(), links)
    assert len(messages) > 1
    assert all(len(m) <= MAX_HTML_LENGTH for m in messages)
    assert all(visible_length(m) <= 4096 for m in messages)
    assert sum(m.count("<a href") for m in messages) == 60
    # Split at item boundaries: every line is a whole item, heading or header.
    for message in messages:
        for line in message.splitlines():
            assert not line or line.startswith(("• ", "<b>"))
            assert line.count("<a ") == line.count("</a>")


def test_digest_link_telegram_cannot_open_is_shown_as_plain_title():
    # The old check looked only at the scheme and host prefix, so these were linked.
    t = CATALOGUE.translator("en")
    bad = [
        "https://a.example/a b",
        "https:// a.example/x",
        "https://a.ex\nample/x",
        "https://a.example]/x",
        "https://[::1/x",
        "javascript:alert(1)",
    ]
    articles = [DigestArticle(n, f"Bad {n}", link, ("china",)) for n, link in enumerate(bad)]
    articles.append(DigestArticle(99, "Good", "  https://a.example/ok?a=1&b=2\n", ("china",)))
    (text,) = render_digest(t, TAXONOMY, frozenset(), articles)
    assert text.count("<a href") == 1
    assert '<a href="https://a.example/ok?a=1&amp;b=2">Good</a>' in text
    for n in range(len(bad)):
        assert f"\n• Bad {n}\n" in text + "\n"


async def test_quiet_hours_are_decided_when_a_row_is_claimed(db):
    await add_reader(db, 1, quiet=("13:00", "15:00"), timezone="Europe/Berlin")  # 14:00 there
    await add_reader(db, 2, quiet=("23:00", "08:00"))  # Moscow: 15:00, not quiet
    await add_reader(db, 3, quiet=("14:30", "15:30"))  # Moscow: quiet
    await add_reader(db, 4)
    await store(db, "Story")
    outbox = OutboxRepository(db, "Europe/Moscow")
    rows = await outbox.claim(10, NOW)
    assert {r.chat_id: r.silent for r in rows} == {1: True, 2: False, 3: True, 4: False}


async def test_stop_waits_for_a_run_in_progress_and_later_runs_do_nothing(db):
    """Regression (review): the scheduler does not await its jobs, so a digest run could
    still be writing when the database closed. stop() waits for it; later runs are no-ops."""
    import asyncio

    await add_reader(db, DIGEST, digest="14:00", timezone="Europe/Berlin")
    await store(db, "First story")
    digests = job(db)
    running = asyncio.create_task(digests.run_due())
    await asyncio.sleep(0)  # the run has taken its lock
    await digests.stop()
    assert running.done()  # stop() returned only once the run had let go
    await add_reader(db, DIGEST + 1, digest="14:00", timezone="Europe/Berlin")
    await store(db, "Second story")
    assert await digests.run_due() == 0
    assert await digests.run_for(DIGEST + 1) == 0
