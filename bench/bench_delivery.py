"""Delivery cost (SPEC 7): the sender's capacity, its pace under Telegram's limits, and the
fan-out of one article into the outbox. Prints figures; asserts nothing (`make bench`).

(a) Capacity: the real `Sender` (aiogram Bot, SQLite outbox) drains 5,000 queued messages
    to tests/fake_telegram.py with every limit off. Target: at least 1,000 messages/s.
(b) Pace: SEND_RATE 30 with the fake enforcing Telegram's limits (30/s overall, 1/s a
    chat), 3,000 messages to 3,000 chats (100 s). Target: at least 0.95 of 30, no 429.
(c) Fan-out: `ArticleRepository.store` of one article matching 100,000 subscribed readers.
    Targets: the outbox rows written in at most 2 s, the process's peak RSS at most 200 MB.
    The store runs in a process of its own (bot modules imported, as in the bot); the
    seeding and (a), (b) run elsewhere and do not count in its peak.

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
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

CAPACITY_MESSAGES = 5_000
PACE_MESSAGES, PACE_RATE = 3_000, 30
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
                conn.send(None)
            elif command == "report":
                sends = [c for c in tg.calls if c.method == "sendMessage"]
                ok = [c.at for c in sends if c.ok]
                conn.send((len(sends), len(ok), tg.count_429, min(ok), max(ok)))
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
            cursor = await conn.execute(
                "INSERT INTO articles (feed_id, link, title, title_key, summary, stored_at,"
                " topics) VALUES (1, ?, ?, ?, 'Экспорт станков & оборудования вырос.', ?,"
                " 'trade industry') RETURNING article_id",
                (f"https://n.example/{k}", f"Новость {k}", f"новость {k}", STAMP),
            )
            articles.append((await cursor.fetchone())[0])
        await conn.executemany(
            "INSERT INTO outbox (chat_id, article_id, created_at) VALUES (?, ?, ?)",
            [(10_000 + i % chats, articles[i // chats], STAMP) for i in range(messages)],
        )


async def _drain(fake: Fake, workdir: Path, pacer, chats: int, messages: int, concurrency=1):
    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.enums import ParseMode

    from bot.delivery.sender import Sender
    from bot.i18n import Catalogue
    from storage.chats import ChatRepository
    from storage.database import Database
    from storage.outbox import OutboxRepository

    db = await Database.open(workdir / "outbox.sqlite3")
    bot = Bot(
        fake.token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
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


def capacity(fake: Fake, workdir: Path) -> None:
    """The production setting (one send in flight: SPEC 7.4's duplicate bound) is bound by
    the round trip; eight in flight shows what the bot itself can do."""
    from bot.delivery.pacing import Pacer

    fake.ask("limits", None)
    for concurrency in (1, 8):
        unlimited = Pacer(None, chat_interval=None, group_limit=None)
        stats, wall, cpu, left = asyncio.run(
            _drain(
                fake,
                workdir / f"a{concurrency}",
                unlimited,
                CAPACITY_MESSAGES,
                CAPACITY_MESSAGES,
                concurrency,
            )
        )
        rate = stats.sent / wall
        verdict = "ok" if rate >= TARGET_CAPACITY else "BELOW TARGET"
        print(
            f"(a) sender capacity, limits off, {concurrency} in flight: "
            f"{stats.sent} messages in {wall:.2f} s"
        )
        print(f"    {rate:,.0f} messages/s ({verdict}: target >= {TARGET_CAPACITY:,}/s)")
        print(f"    bot-side CPU {cpu:.2f} s: {stats.sent / cpu:,.0f} messages per CPU-second")
        print(f"    rows not sent: {left}")


def pace(fake: Fake, workdir: Path) -> None:
    from bot.delivery.pacing import Pacer

    fake.ask("limits", {"global_per_second": PACE_RATE})
    stats, wall, cpu, left = asyncio.run(
        _drain(fake, workdir / "b", Pacer(PACE_RATE), PACE_MESSAGES, PACE_MESSAGES)
    )
    calls, ok, too_many, first, last = fake.ask("report")  # type: ignore[misc]
    achieved = (ok - 1) / (last - first) if ok > 1 else 0.0
    share = achieved / PACE_RATE
    verdict = "ok" if share >= TARGET_PACE and not too_many else "BELOW TARGET"
    print(f"(b) pace at SEND_RATE {PACE_RATE}, fake enforcing Telegram's limits:")
    print(f"    {ok} delivered in {wall:.1f} s ({calls} sendMessage calls), 429s: {too_many}")
    print(
        f"    achieved {achieved:.2f}/s = {share:.3f} of {PACE_RATE} "
        f"({verdict}: target >= {TARGET_PACE}, no 429); bot-side CPU {cpu:.2f} s"
    )
    print(f"    rows not sent: {left}; pauses: {stats.pauses}")


# --------------------------------------------------------------------------- (c)


async def _seed_fan_out(path: Path) -> None:
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
    finally:
        await db.close()


def fan_out(conn: Connection, path: str) -> None:
    """Child process: only the store is measured (seeding ran in the parent)."""
    conn.send(asyncio.run(_fan_out(Path(path))))


async def _fan_out(path: Path) -> tuple[float, int, float, float]:
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


def fan_out_in_child(workdir: Path) -> None:
    path = workdir / "fanout.sqlite3"
    asyncio.run(_seed_fan_out(path))
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=fan_out, args=(child, str(path)))
    process.start()
    wall, queued, rss_before, rss_peak = parent.recv()
    process.join()
    ok_time = "ok" if wall <= TARGET_FAN_OUT_S else "OVER TARGET"
    ok_rss = "ok" if rss_peak <= TARGET_RSS_MB else "OVER TARGET"
    print(f"(c) fan-out of one article to {FAN_OUT_READERS:,} subscribed readers:")
    print(f"    {queued:,} outbox rows in {wall:.2f} s ({ok_time}: target <= {TARGET_FAN_OUT_S} s)")
    print(
        f"    peak RSS {rss_peak:.0f} MB ({ok_rss}: target <= {TARGET_RSS_MB} MB; "
        f"{rss_before:.0f} MB before the store)"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        workdir = Path(tmp)
        fan_out_in_child(workdir)
        fake = Fake()
        try:
            capacity(fake, workdir)
            pace(fake, workdir)
        finally:
            fake_cpu = fake.stop()
        print(f"fake Bot API process: {fake_cpu:.2f} s CPU (not counted)")


if __name__ == "__main__":
    main()
