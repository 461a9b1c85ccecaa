"""Digest job cost (SPEC 4.11): 10,000 readers due at once, 30 kept articles each.
Prints figures; asserts nothing (`make bench`).

Target: rendering and enqueueing every digest in at most 5 s. The measured call is the
real job, `DigestJob.run_due()`, on a temporary SQLite `Database`: per reader, one
transaction marks the day done, reads the kept articles, renders the digest (grouped by
topic, linked titles), queues it in the outbox and clears the kept articles. Readers are
spread over several time zones; all of them are past their digest time.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.digest import DigestJob
from bot.i18n import Catalogue
from bot.topics.taxonomy import default_topics_path, load_taxonomy
from storage.database import Database
from storage.schedules import ScheduleRepository

READERS = 10_000
PER_DIGEST = 30
ARTICLES = 3_000
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # past 08:00 in every zone below
STAMP = NOW.isoformat(timespec="seconds")
ZONES = ("Europe/Moscow", "Europe/Berlin", "Asia/Shanghai", "Asia/Kolkata", None)


async def populate(db: Database, topic_ids: list[str], rng: random.Random) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO feeds (feed_id, url, name, created_at)"
            " VALUES (1, 'https://niann.example/rss', 'niann', ?)",
            (STAMP,),
        )
        await conn.executemany(
            "INSERT INTO articles (article_id, feed_id, link, title, title_key, summary,"
            " published_at, stored_at, topics, pushed) VALUES (?, 1, ?, ?, ?, '', ?, ?, ?, 1)",
            [
                (
                    n,
                    f"https://niann.example/news/{n}?utm_source=rss&id={n}",
                    f"Нижегородское предприятие №{n} & партнёры из КНР расширяют экспорт",
                    f"key {n}",
                    STAMP,
                    STAMP,
                    " ".join(sorted(rng.sample(topic_ids, 2))),
                )
                for n in range(1, ARTICLES + 1)
            ],
        )
        await conn.executemany(
            "INSERT INTO chats (chat_id, kind, language, timezone, digest_time,"
            " created_at, updated_at) VALUES (?, 'private', ?, ?, '08:00', ?, ?)",
            [
                (chat, "ru" if chat % 2 else "en", ZONES[chat % len(ZONES)], STAMP, STAMP)
                for chat in range(1, READERS + 1)
            ],
        )
        await conn.executemany(
            "INSERT INTO subscriptions (chat_id, kind, value, key, created_at)"
            " VALUES (?, 'topic', ?, ?, ?)",
            [
                (chat, topic, topic, STAMP)
                for chat in range(1, READERS + 1)
                for topic in rng.sample(topic_ids, 3)
            ],
        )
        await conn.executemany(
            "INSERT INTO digest_items (chat_id, article_id) VALUES (?, ?)",
            [
                (chat, article)
                for chat in range(1, READERS + 1)
                for article in rng.sample(range(1, ARTICLES + 1), PER_DIGEST)
            ],
        )


async def main() -> None:
    taxonomy = load_taxonomy(default_topics_path())
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "bench.sqlite3")
        try:
            await populate(db, list(taxonomy.ids), rng)
            job = DigestJob(
                ScheduleRepository(db),
                Catalogue.load(),
                taxonomy,
                "Europe/Moscow",
                clock=lambda: NOW,
            )
            wall, cpu = time.perf_counter(), time.process_time()
            queued = await job.run_due()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rows = await db.fetch_one(
                "SELECT count(*), max(length(text)), sum(length(text)) FROM outbox"
            )
            left = await db.fetch_one("SELECT count(*) FROM digest_items")
            again = await job.run_due()
        finally:
            await db.close()
    print(f"digests: {READERS:,} readers x {PER_DIGEST} articles, all due")
    print(f"queued: {queued:,} messages ({rows[0]:,} outbox rows), kept articles left: {left[0]}")
    print(f"largest digest: {rows[1]:,} characters; total {rows[2] / 1e6:.1f} MB of HTML")
    print(f"render + enqueue: {wall:.2f} s wall, {cpu:.2f} s CPU (target <= 5 s)")
    print(f"per digest: {wall / READERS * 1000:.2f} ms; a second run queued {again}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
