"""PostgreSQL as the store (SPEC 8c) through the real bot: start-up while the server is
unreachable, one copy per database, and `migrate-db` from a SQLite database that a
running bot filled, after which the bot carries on from PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from delivery_helpers import delivered, publish, seed, start_primed, story, wait_delivered
from fake_telegram import ApiCall
from harness import query

PASSWORD = "s3cret-Pw"  # trust authentication ignores it; it must never be printed


def with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")


def output_lines(bot) -> list[str]:
    return [line for line in bot.log_text().splitlines() if not line.startswith("=====")]


class Forwarder:
    """A TCP port that reaches the PostgreSQL server only once `open()` is called:
    before that, connections are refused, as from a server that is down."""

    def __init__(self, port: int, target_port: int) -> None:
        self.port, self._target = port, target_port
        self._server: asyncio.Server | None = None

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _pipe(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self._target)

        async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(copy(client_r, server_w), copy(server_r, client_w))


@pytest_asyncio.fixture
async def forwarder(pg_server, unused_tcp_port_factory) -> AsyncIterator[Forwarder]:
    proxy = Forwarder(unused_tcp_port_factory(), pg_server.port)
    yield proxy
    await proxy.close()


async def healthz(port: int) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            return response.status, await response.json()


async def test_an_unreachable_server_is_retried_with_healthz_503_then_one_copy_leads(
    start_bot, pg_server, forwarder, unused_tcp_port_factory, tg, reader
):
    url = await pg_server.create_database()
    behind = url.replace(f":{pg_server.port}/", f":{forwarder.port}/")
    metrics = unused_tcp_port_factory()
    env = {"DATABASE_URL": with_password(behind), "METRICS_PORT": str(metrics)}
    bot = await start_bot(env=env, wait_ready=False)
    async with asyncio.timeout(30):  # the log is the only sign of a retry
        while "unreachable" not in bot.log_text():
            assert bot.running, bot.log_tail()
            await asyncio.sleep(0.05)
    status, body = await healthz(metrics)
    assert status == 503 and body["database"] is False
    assert tg.calls_of("getUpdates") == []

    await forwarder.open()  # the server is back: the next retry connects
    await tg.wait_poll(after=0, timeout=30)
    assert "postgres:***@" in bot.log_text()

    # A second copy on the same database stands by: it never polls Telegram.
    second = await start_bot(env={"DATABASE_URL": with_password(url)}, wait_ready=False)
    async with asyncio.timeout(30):
        while "standing by" not in second.log_text():
            assert second.running, second.log_tail()
            await asyncio.sleep(0.05)
    await reader().ask("/start")  # answered by the leader's polling alone
    assert await second.stop() == 0
    assert "Start polling" in bot.log_text() and "Start polling" not in second.log_text()
    assert await bot.stop() == 0
    for process in (bot, second):
        assert PASSWORD not in process.log_text()


READERS = list(range(810_001, 810_061))


async def test_migrate_db_copies_a_filled_database_and_the_bot_carries_on(
    tg, start_bot, feed_server, reader, tmp_path, pg_server
):
    # A bot on SQLite: readers seeded, one who subscribed by command, and an article
    # half fanned out when the bot is stopped, so the outbox has pending rows.
    workdir = tmp_path / "sqlite-bot"
    await seed(workdir, READERS)
    env = {"POLL_INTERVAL_SECONDS": "1", "SEND_RATE_PER_SECOND": "10"}
    bot = await start_primed(start_bot, feed_server, workdir, env)
    ann = reader()
    await ann.ask("/subscribe china")
    await ann.ask("/subscribe Куба")
    mark = tg.mark()
    publish(feed_server, story(1))
    sent: set[int] = set()

    def some(call: ApiCall) -> bool:
        if call.ok and call.params.get("chat_id") in READERS:
            sent.add(call.index)
        return len(sent) >= 10

    await tg.wait_for("sendMessage", some, after=mark, timeout=30)
    assert await bot.stop() == 0
    pending = query(bot, "SELECT count(*) FROM outbox WHERE status = 'pending'")[0][0]
    assert pending > 0, "the fan-out finished before the stop"

    url = await pg_server.create_database()
    copier = await start_bot(
        args=["migrate-db", "--to", with_password(url)], workdir=workdir, wait_ready=False
    )
    assert await copier.wait_exit(timeout=60) == 0, copier.log_tail()
    report = copier.log_text()
    assert "every count matches" in report
    assert PASSWORD not in report
    for table in ("chats", "subscriptions", "articles", "outbox", "feeds"):
        assert table in report

    # A second copy into the now filled database is refused, and changes nothing.
    again = await start_bot(args=["migrate-db", "--to", url], workdir=workdir, wait_ready=False)
    assert await again.wait_exit(timeout=60) == 1
    assert "not empty" in again.log_text()

    # The bot on PostgreSQL: the pending rows go out, the readers keep what they chose.
    moved = await start_bot(env={**env, "DATABASE_URL": url}, workdir=workdir)
    await wait_delivered(tg, READERS, after=mark, timeout=40)
    per_chat = delivered(tg, after=mark)
    assert set(READERS) <= set(per_chat)
    assert sum(n - 1 for chat, n in per_chat.items() if chat in READERS) <= 1
    listing = (await ann.ask("/list"))["text"]
    assert "China" in listing and "Куба" in listing
    assert query(moved, "SELECT count(*) FROM outbox WHERE status = 'pending'") == [(0,)]


@pytest.mark.parametrize(
    "url",
    ["mysql://u:s3cret-Pw@db/newsbot", "postgresql://u:s3cret-Pw@/newsbot", "postgresql://db/"],
)
async def test_migrate_db_refuses_a_bad_url_with_one_line(start_bot, tmp_path, url):
    workdir = tmp_path / "bot"
    await seed(workdir, [1])
    copier = await start_bot(args=["migrate-db", "--to", url], workdir=workdir, wait_ready=False)
    assert await copier.wait_exit(timeout=30) == 2
    lines = output_lines(copier)
    assert len(lines) == 1 and lines[0].startswith("newsbot: configuration error: --to: ")
    assert PASSWORD not in copier.log_text()
