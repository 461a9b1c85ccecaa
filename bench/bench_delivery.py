"""Delivery cost (SPEC 7): the sender's capacity, its pace under Telegram's limits at a
real round trip, and the fan-out of one article into the outbox. Prints figures; asserts
nothing (`make bench`).

(a) Capacity: the real `Sender` (aiogram Bot, SQLite outbox) drains 5,000 queued messages
    to tests/fake_telegram.py with every limit off and no answer delay. Target: at least
    1,000 messages/s (the paid-broadcast ceiling). One request in flight, the old sender,
    is measured in the same run for comparison.
(b) Pace: SEND_RATE 30 with the fake enforcing Telegram's limits (30/s overall, 1/s a
    chat, judged on arrival) and answering 150 ms (+-50 ms) after each request, 1,500
    messages to 1,500 chats. Target: at least 0.95 of 30, no 429.
(b') The same at 300 ms (+-50 ms). SPEC 7.2 caps the requests in flight at 8, so at a
    300 ms round trip no sender can pass 8 / 0.3 = 26.7 messages/s: SEND_RATE 30 is
    measured against that ceiling, and the default SEND_RATE 25 against itself.
(d) Fan-out: `ArticleRepository.store` of one article matching 100,000 subscribed readers.
    Targets: the outbox rows written in at most 2 s, the process's peak RSS at most 200 MB.
    The store runs in a process of its own (bot modules imported, as in the bot); the
    seeding and (a), (b) run elsewhere and do not count in its peak.

(a) and (d) run on SQLite and on PostgreSQL (a throwaway server, as in the tests) when its
binaries are on the machine, with the same targets; (b) is about Telegram, not the store.

The fake Bot API runs in a separate process, so its CPU is not counted as the bot's;
`time.process_time()` here covers every thread of the bot side (aiosqlite's included).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

CAPACITY_MESSAGES = 5_000
PACE_MESSAGES, PACE_RATE = 1_500, 30
PACE_LATENCIES = ((0.150, 0.050, PACE_RATE), (0.300, 0.050, PACE_RATE), (0.300, 0.050, 25))
MAX_IN_FLIGHT = 8  # SPEC 7.2
FAN_OUT_READERS = 100_000
TARGET_CAPACITY, TARGET_PACE, TARGET_FAN_OUT_S, TARGET_RSS_MB = 1_000, 0.95, 2.0, 200
STAMP = datetime(2025, 3, 1, 12, 0, tzinfo=UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------ the fake (its own process)


def serve_telegram(conn: Connection) -> None:
    asyncio.run(_serve_telegram(conn))


async def _serve_telegram(conn: Connection) -> None:
    sys.path.insert(0, str(TESTS))
    from fake_telegram import FakeTelegram

    loop = asyncio.get_running_loop()
    async with FakeTelegram() as tg:
        conn.send((tg.token, tg.base_url))
        while True:
            command, argument = await loop.run_in_executor(None, conn.recv)
            if command == "limits":
                if argument is None:
                    tg.disable_limits()
                else:
                    tg.enforce_limits(**argument)
                tg.count_429 = 0
                tg.calls.clear()
                tg.reset_in_flight_peaks()
                conn.send(None)
            elif command == "latency":
                tg.set_latency(*argument)
                conn.send(None)
            elif command == "report":
                sends = [c for c in tg.calls if c.method == "sendMessage"]
                ok = [c.at for c in sends if c.ok]
                conn.send(
                    (len(sends), len(ok), tg.count_429, min(ok), max(ok), tg.max_in_flight)
                )
            elif command == "stop":
                conn.send(time.process_time())
                return


class Fake:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve_telegram, args=(child,), daemon=True)
        self._process.start()
        self.token, self.base_url = self._conn.recv()

    def ask(self, command: str, argument: object = None) -> object:
        self._conn.send((command, argument))
        return self._conn.recv()

    def stop(self) -> float:
        cpu = self.ask("stop")
        self._process.join(10)
        return float(cpu)  # type: ignore[arg-type]


# ------------------------------------------------------------------- (a) and (b)


async def _queue(db, chats: int, messages: int) -> None:
    """`messages` outbox rows of one article, spread round-robin over `chats` readers."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO feeds (url, name, created_at) VALUES ('https://n.example/rss', 'n', ?)",
            (STAMP,),
        )
        await conn.executemany(
            "INSERT INTO chats (chat_id, kind, language, created_at, updated_at)"
            " VALUES (?, 'private', 'en', ?, ?)",
            [(10_000 + i, STAMP, STAMP) for i in range(chats)],
        )
        articles = []
        for k in range(max(1, messages // chats)):
            article_id = await conn.fetch_value(
                "INSERT INTO articles (feed_id, link, title, title_key, summary, stored_at,"
                " topics) VALUES (1, ?, ?, ?, 'Экспорт станков & оборудования вырос.', ?,"
                " 'trade industry') RETURNING article_id",
                (f"https://n.example/{k}", f"Новость {k}", f"новость {k}", STAMP),
            )
            articles.append(article_id)
        await conn.executemany(
            "INSERT INTO outbox (chat_id, article_id, created_at) VALUES (?, ?, ?)",
            [(10_000 + i % chats, articles[i // chats], STAMP) for i in range(messages)],
        )


async def _drain(fake: Fake, target: Path | str, pacer, chats: int, messages: int, concurrency=1):
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.app import bot_defaults
    from bot.delivery.sender import Sender
    from bot.i18n import Catalogue
    from storage.chats import ChatRepository
    from storage.database import Database
    from storage.outbox import OutboxRepository

    db = await Database.open(target)
    bot = Bot(
        fake.token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)),
        default=bot_defaults(),
    )
    try:
        await _queue(db, chats, messages)
        sender = Sender(
            bot,
            OutboxRepository(db),
            ChatRepository(db),
            Catalogue.load(),
            pacer,
            concurrency=concurrency,
        )
        wall, cpu = time.perf_counter(), time.process_time()
        await sender.run_until_idle()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        left = await db.fetch_one("SELECT count(*) FROM outbox WHERE status != 'sent'")
        return sender.stats, wall, cpu, int(left[0])
    finally:
        await bot.session.close()
        await db.close()


def capacity(fake: Fake, store: Store) -> None:
    """The production window (rate unset: the full 8) against one request in flight."""
    from bot.delivery.pacing import Pacer

    fake.ask("limits", None)
    fake.ask("latency", (0.0, 0.0))
    for concurrency, label in ((1, "1 in flight (old sender)"), (None, "production window")):
        unlimited = Pacer(None, chat_interval=None, group_limit=None)
        stats, wall, cpu, left = asyncio.run(
            _drain(
                fake,
                store.new(f"a{concurrency}"),
                unlimited,
                CAPACITY_MESSAGES,
                CAPACITY_MESSAGES,
                concurrency,
            )
        )
        rate = stats.sent / wall
        verdict = "ok" if rate >= TARGET_CAPACITY else "BELOW TARGET"
        print(
            f"(a) [{store.name}] sender capacity, limits off, {label}: {stats.sent} messages"
            f" in {wall:.2f} s"
        )
        print(f"    {rate:,.0f} messages/s ({verdict}: target >= {TARGET_CAPACITY:,}/s)")
        print(
            f"    bot-side CPU {cpu:.2f} s: {cpu / stats.sent * 1e6:,.0f} us per message, "
            f"{stats.sent / cpu:,.0f} messages per CPU-second"
        )
        print(f"    rows not sent: {left}")


def pace(fake: Fake, store: Store) -> None:
    from bot.delivery.pacing import Pacer

    for n, (latency, jitter, rate) in enumerate(PACE_LATENCIES):
        fake.ask("limits", {"global_per_second": PACE_RATE})
        fake.ask("latency", (latency, jitter))
        stats, wall, cpu, left = asyncio.run(
            _drain(fake, store.new(f"b{n}"), Pacer(rate), PACE_MESSAGES, PACE_MESSAGES, None)
        )
        calls, ok, too_many, first, last, peak = fake.ask("report")  # type: ignore[misc]
        achieved = (ok - 1) / (last - first) if ok > 1 else 0.0
        ceiling = min(rate, MAX_IN_FLIGHT / latency)
        share = achieved / rate
        verdict = "ok" if achieved >= TARGET_PACE * ceiling and not too_many else "BELOW TARGET"
        label = "(b)" if latency < 0.2 else "(b')"
        print(
            f"{label} pace at SEND_RATE {rate}, answers after {latency * 1000:.0f} ms "
            f"(+-{jitter * 1000:.0f}), fake enforcing Telegram's limits:"
        )
        print(f"    {ok} delivered in {wall:.1f} s ({calls} sendMessage calls), 429s: {too_many}")
        print(
            f"    achieved {achieved:.2f}/s = {share:.3f} of {rate}; at most {peak} in flight "
            f"(ceiling {ceiling:.1f}/s = min(rate, 8 / round trip); {verdict}: target >= "
            f"{TARGET_PACE} of the ceiling, no 429)"
        )
        print(f"    bot-side CPU {cpu:.2f} s; rows not sent: {left}; pauses: {stats.pauses}")
    fake.ask("latency", (0.0, 0.0))


# --------------------------------------------------------------------------- (d)


async def _seed_fan_out(path: Path | str) -> None:
    """100,000 readers who all follow the article's topic; a third also a keyword it
    matches, the others a second topic (one outbox row each all the same)."""
    from storage.database import Database

    db = await Database.open(path)
    try:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO feeds (url, name, created_at) VALUES ('https://n.example/', 'n', ?)",
                (STAMP,),
            )
            await conn.executemany(
                "INSERT INTO chats (chat_id, kind, language, created_at, updated_at)"
                " VALUES (?, 'private', 'ru', ?, ?)",
                ((100_000 + i, STAMP, STAMP) for i in range(FAN_OUT_READERS)),
            )
            await conn.executemany(
                "INSERT INTO subscriptions (chat_id, kind, value, key, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    row
                    for i in range(FAN_OUT_READERS)
                    for row in (
                        (100_000 + i, "topic", "china", "china", STAMP),
                        (100_000 + i, "keyword", "Китай", "китай", STAMP)
                        if i % 3 == 0
                        else (100_000 + i, "topic", "trade", "trade", STAMP),
                    )
                ),
            )
        if db.dialect == "postgresql":
            # What autovacuum keeps in a running database and a bulk load just before
            # the measurement has not had time to get: statistics, and rows whose
            # visibility is settled (the first read of 300,000 fresh rows writes them all).
            await db.pool.execute("VACUUM ANALYZE")
    finally:
        await db.close()


def fan_out(conn: Connection, target: Path | str) -> None:
    """Child process: only the store is measured (seeding ran in the parent)."""
    conn.send(asyncio.run(_fan_out(target)))


async def _fan_out(path: Path | str) -> tuple[float, int, float, float]:
    import bot.app  # noqa: F401 - the bot's modules loaded, as in production
    from storage.articles import ArticleRepository, Candidate
    from storage.database import Database

    db = await Database.open(path)
    try:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        now = datetime.now(UTC)
        candidate = Candidate(
            item_key="fan-out-1",
            link="https://n.example/fan-out-1",
            canonical_link="https://n.example/fan-out-1",
            title="Китайский автоконцерн откроет сборку в регионе",
            title_key="китайский автоконцерн откроет сборку в регионе",
            summary="Совместное предприятие локализует производство.",
            published=now,
            topics=frozenset({"china", "trade"}),
            keywords=frozenset({"китай"}),
            fresh=True,
        )
        wall = time.perf_counter()
        result = await ArticleRepository(db).store(
            1, "n", [candidate], push=True, now=now, dedup_since=now - timedelta(hours=48)
        )
        wall = time.perf_counter() - wall
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        return wall, result.queued, rss_before, rss_peak
    finally:
        await db.close()


def fan_out_in_child(store: Store) -> None:
    path = store.new("fanout")
    asyncio.run(_seed_fan_out(path))
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=fan_out, args=(child, path))
    process.start()
    wall, queued, rss_before, rss_peak = parent.recv()
    process.join()
    ok_time = "ok" if wall <= TARGET_FAN_OUT_S else "OVER TARGET"
    ok_rss = "ok" if rss_peak <= TARGET_RSS_MB else "OVER TARGET"
    print(f"(d) [{store.name}] fan-out of one article to {FAN_OUT_READERS:,} subscribed readers:")
    print(f"    {queued:,} outbox rows in {wall:.2f} s ({ok_time}: target <= {TARGET_FAN_OUT_S} s)")
    print(
        f"    peak RSS {rss_peak:.0f} MB ({ok_rss}: target <= {TARGET_RSS_MB} MB; "
        f"{rss_before:.0f} MB before the store)"
    )


@dataclass
class Store:
    """Where a measurement's database is made: SQLite files, or databases on a throwaway
    PostgreSQL server (tests/pg_server.py), each new and empty."""

    name: str
    workdir: Path
    server: Any = None

    def new(self, label: str) -> Path | str:
        if self.server is None:
            return self.workdir / f"{label}.sqlite3"
        return asyncio.run(self.server.create_database())


def main() -> None:
    sys.path.insert(0, str(TESTS))
    from pg_server import Unavailable, running_server

    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        stores = [Store("sqlite", workdir)]
        try:
            stores.append(Store("postgresql", workdir, stack.enter_context(running_server())))
        except Unavailable as error:
            print(f"PostgreSQL figures skipped: {error}")
        for store in stores:
            fan_out_in_child(store)
        fake = Fake()
        try:
            for store in stores:
                capacity(fake, store)
            pace(fake, stores[0])
        finally:
            fake_cpu = fake.stop()
        print(f"fake Bot API process: {fake_cpu:.2f} s CPU (not counted)")


if __name__ == "__main__":
    main()
