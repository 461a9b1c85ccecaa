"""(c) Poll cycle cost (SPEC 6.1): 1,000 locally served feeds, 10% of them changed since
the last cycle. Prints figures; asserts nothing (`make bench`).

Target: the cycle in at most 10 s wall and 3 s CPU, compared with the same cycle with
conditional GET and change detection off (`PollSettings(conditional=False)`), which
downloads, parses and classifies every feed every time.

The bot side is the real thing: `Poller` on a temporary SQLite `Database`, a real
`Fetcher(create_session())`, the shipped taxonomy, readers with topic and keyword
subscriptions (so new articles fan out into the outbox). The feeds are served by
tests/feed_server.py in a separate process, so its CPU is not counted as the bot's;
`time.process_time()` in this process covers every thread of the bot (aiosqlite's and
the parse workers). The served feeds mix what real servers do: an ETag, only
Last-Modified, or no validator at all (then only the body hash notices "unchanged");
gzip on half of them; UTF-8 and windows-1251.

Cycles, on one database: priming (every item new, not pushed), then 10% of the feeds get
new items and the measured conditional cycle runs, then another 10% change and the
baseline cycle runs.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from multiprocessing.connection import Connection
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from bot.feeds.fetch import Fetcher, create_session
from bot.feeds.poller import Poller, PollReport, PollSettings
from bot.topics.matcher import Matcher
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import default_topics_path, load_taxonomy
from storage.articles import ArticleRepository
from storage.chats import ChatRepository
from storage.database import Database
from storage.feeds import FeedRepository
from storage.subscriptions import SubscriptionRepository

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
DEV_SET = TESTS / "data" / "topics-dev.jsonl"

N_FEEDS = 1_000
CHANGED_SHARE = 0.10
NEW_ITEMS_PER_CHANGE = 3  # a changed feed gains 3 items and drops its 3 oldest
MIN_ITEMS, MAX_ITEMS = 15, 25  # items per feed vary around ~20
READERS = 500
READER_KEYWORDS = ("Куба", "T-Hub", "Дзержинск", "Китай", "экспорт", "Индия", "ГАЗ", "логистика")
TARGET_WALL_S, TARGET_CPU_S = 10.0, 3.0
SEED = 20251020

_CATEGORIES = ("Экономика", "Промышленность", "Регион", "IT", "Бизнес", "Торговля", "Наука")
_PLACES = ("Нижний Новгород", "Дзержинск", "Арзамас", "Бор", "Кстово", "Выкса", "Саров")


# ------------------------------------------------------------------ feeds (server process)


def _corpus() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    return [(row["title"], row["summary"]) for row in rows]


def _feed_encoding(index: int) -> str:
    return "windows-1251" if index % 10 == 3 else "utf-8"


def _feed_body(index: int, version: int, corpus: list[tuple[str, str]], t0: datetime) -> bytes:
    """RSS 2.0 of feed `index` after `version` changes: the newest items first, distinct
    titles and links per feed (a title shared by two feeds would be deduplicated)."""
    count = MIN_ITEMS + index % (MAX_ITEMS - MIN_ITEMS + 1)
    newest = count + version * NEW_ITEMS_PER_CHANGE
    items = []
    for k in range(newest - 1, newest - count - 1, -1):
        title, summary = corpus[(index * 7 + k) % len(corpus)]
        place = _PLACES[(index + k) % len(_PLACES)]
        published = t0 - timedelta(hours=12) + timedelta(minutes=5 * k)
        categories = "".join(
            f"<category>{c}</category>" for c in _CATEGORIES[(index + k) % 5 : (index + k) % 5 + 2]
        )
        description = (
            f"<p>{escape(summary)}&nbsp;Подробности — на сайте.</p>"
            f'<p><img src="https://news{index}.example/img/{k}.jpg" alt=""></p>'
        )
        items.append(
            "<item>"
            f"<title>{xml_escape(f'{title} ({place}, выпуск {index}-{k})')}</title>"
            f"<link>https://news{index}.example/news/{k}.html?utm_source=rss</link>"
            f'<guid isPermaLink="false">news{index}-{k}</guid>'
            f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>"
            f"{categories}"
            f"<description><![CDATA[{description}]]></description>"
            "</item>"
        )
    encoding = _feed_encoding(index)
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<rss version="2.0"><channel>'
        f"<title>Новости {index}</title><link>https://news{index}.example/</link>"
        "<description>Региональная экономика</description>"
        f"{''.join(items)}</channel></rss>"
    )
    return document.encode(encoding, "replace")


def _path(index: int) -> str:
    return f"/feed/{index}.xml"


def serve_feeds(conn: Connection, n_feeds: int) -> None:
    """Server process: serve the feeds, apply changes on command, report its CPU at stop."""
    asyncio.run(_serve_feeds(conn, n_feeds))


async def _serve_feeds(conn: Connection, n_feeds: int) -> None:
    sys.path.insert(0, str(TESTS))
    from feed_server import FeedServer

    corpus = _corpus()
    t0 = datetime.now(UTC).replace(microsecond=0)
    versions = [0] * n_feeds

    def last_modified(version: int) -> str:
        return format_datetime(t0 - timedelta(days=1) + timedelta(minutes=version), usegmt=True)

    loop = asyncio.get_running_loop()
    async with FeedServer() as server:
        for index in range(n_feeds):
            kind = index % 10  # 0-5 ETag, 6-7 Last-Modified only, 8-9 no validator
            server.serve(
                _path(index),
                _feed_body(index, 0, corpus, t0),
                content_type=f"application/rss+xml; charset={_feed_encoding(index)}",
                etag="auto" if kind < 6 else None,
                last_modified=last_modified(0) if 6 <= kind < 8 else None,
                gzip=index % 2 == 0,
            )
        conn.send(server.base_url)
        while True:
            command, argument = await loop.run_in_executor(None, conn.recv)
            if command == "change":
                for index in argument:
                    versions[index] += 1
                    lm = last_modified(versions[index]) if 6 <= index % 10 < 8 else None
                    body = _feed_body(index, versions[index], corpus, t0)
                    server.replace(_path(index), body, last_modified=lm)
                conn.send(len(argument))
            elif command == "stop":
                conn.send((time.process_time(), len(server.requests)))
                return


# ----------------------------------------------------------------------- bot (this process)


@dataclass
class Measured:
    name: str
    wall: float
    cpu: float
    report: PollReport


async def _cycle(name: str, poller: Poller) -> Measured:
    wall, cpu = time.perf_counter(), time.process_time()
    report = await poller.poll_due()
    return Measured(name, time.perf_counter() - wall, time.process_time() - cpu, report)


async def _seed_readers(db: Database, taxonomy_ids: tuple[str, ...], normalizer: Normalizer):
    chats, subscriptions = ChatRepository(db), SubscriptionRepository(db)
    rng = random.Random(SEED)
    for chat_id in range(1, READERS + 1):
        await chats.register(chat_id, "ru")
        for topic in rng.sample(taxonomy_ids, 2):
            await subscriptions.add(chat_id, "topic", topic, topic, 50)
        keyword = rng.choice(READER_KEYWORDS)
        await subscriptions.add(chat_id, "keyword", keyword, normalizer.phrase_key(keyword), 50)


def _change(conn: Connection, indices: list[int]) -> None:
    conn.send(("change", indices))
    conn.recv()


async def _bench(conn: Connection, base_url: str, workdir: Path) -> list[Measured]:
    # The Poller parses with asyncio.to_thread, i.e. on the loop's default executor. One
    # worker thread keeps the figures steady; under the GIL more would add no throughput.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse")
    )
    taxonomy = load_taxonomy(default_topics_path())
    normalizer = Normalizer()
    matcher = Matcher.from_taxonomy(taxonomy, normalizer)
    db = await Database.open(workdir / "bench.sqlite3")
    http = create_session()
    try:
        feeds = FeedRepository(db)
        for index in range(N_FEEDS):
            await feeds.upsert(f"{base_url}{_path(index)}", f"news{index}", None)
        await _seed_readers(db, taxonomy.ids, normalizer)
        repos = (feeds, ArticleRepository(db), SubscriptionRepository(db), Fetcher(http))

        def poller(conditional: bool) -> Poller:
            return Poller(*repos, matcher, PollSettings(conditional=conditional))

        rng = random.Random(SEED)
        order = rng.sample(range(N_FEEDS), N_FEEDS)
        n_changed = round(N_FEEDS * CHANGED_SHARE)

        results = [await _cycle("priming (all new)", poller(True))]
        _change(conn, sorted(order[:n_changed]))
        results.append(await _cycle("conditional", poller(True)))
        _change(conn, sorted(order[n_changed : 2 * n_changed]))
        results.append(await _cycle("baseline (conditional off)", poller(False)))
        return results
    finally:
        await http.close()
        await db.close()


def _print(results: list[Measured], server_cpu: float, server_requests: int) -> None:
    n_changed = round(N_FEEDS * CHANGED_SHARE)
    print(
        f"feeds: {N_FEEDS}, changed per cycle: {n_changed} ({CHANGED_SHARE:.0%}), "
        f"{MIN_ITEMS}-{MAX_ITEMS} items a feed, +{NEW_ITEMS_PER_CHANGE} items a change, "
        f"readers: {READERS}"
    )
    header = (
        f"{'cycle':<28}{'wall s':>8}{'cpu s':>8}{'polled':>8}{'unchanged':>10}"
        f"{'failed':>8}{'new':>7}{'dups':>6}{'queued':>8}"
    )
    print(header)
    for m in results:
        r = m.report
        print(
            f"{m.name:<28}{m.wall:>8.2f}{m.cpu:>8.2f}{r.polled:>8}{r.unchanged:>10}"
            f"{r.failed:>8}{r.new:>7}{r.duplicates:>6}{r.queued:>8}"
        )
    conditional, baseline = results[1], results[2]
    print(
        f"baseline / conditional: wall x{baseline.wall / conditional.wall:.1f}, "
        f"cpu x{baseline.cpu / conditional.cpu:.1f}"
    )
    verdict = (
        "met" if conditional.wall <= TARGET_WALL_S and conditional.cpu <= TARGET_CPU_S else "MISSED"
    )
    print(
        f"(c) target (conditional cycle <= {TARGET_WALL_S:g} s wall, <= {TARGET_CPU_S:g} s cpu): "
        f"{verdict}"
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak RSS of the bot process: {peak_mb:.0f} MB")
    print(f"feed server process: {server_requests} requests, {server_cpu:.2f} s cpu (not counted)")


def main() -> None:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve_feeds, args=(child, N_FEEDS), daemon=True)
    started = time.perf_counter()
    server.start()
    try:
        base_url = parent.recv()
        with tempfile.TemporaryDirectory(prefix="bench-poll-") as workdir:
            results = asyncio.run(_bench(parent, base_url, Path(workdir)))
        parent.send(("stop", None))
        server_cpu, server_requests = parent.recv()
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
    _print(results, server_cpu, server_requests)
    print(f"whole bench: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
