# ruff: noqa: ASYNC109 - helpers take timeout= like asyncio.wait_for does.
"""Two copies of the bot on one PostgreSQL database (SPEC 8c): one leader runs the jobs
and polls Telegram, the other stands by; a dead, stopped or cut-off leader is replaced
within seconds, and readers get every article, with duplicates only among the messages
that were in flight."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
from delivery_helpers import delivered, publish, seed, start_primed, story, wait_delivered
from fake_telegram import ApiCall
from feedgen import feeds_toml, rss
from harness import tg_barrier

READERS = list(range(820_001, 820_151))
IN_FLIGHT = 8  # SPEC 7.2: the duplicates a lost leader can leave


async def health(port: int) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            return response.status, await response.json()


async def wait_role(port: int, role: str, timeout: float = 30.0) -> dict:
    """Poll /healthz (the only outside sign of a copy's role) until it reports `role`."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                status, body = await health(port)
                if body.get("role") == role and status == 200:
                    return body
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def pair(start_bot, feed_server, tmp_path: Path, url: str, ports) -> tuple:
    """A leader (primed on an empty feed) and a standby on another working directory."""
    await seed(tmp_path / "a", READERS, url=url)
    env = {"POLL_INTERVAL_SECONDS": "1", "SEND_RATE_PER_SECOND": "20", "DATABASE_URL": url}
    first_port, second_port = ports(), ports()
    leader = await start_primed(
        start_bot, feed_server, tmp_path / "a", {**env, "METRICS_PORT": str(first_port)}
    )
    await wait_role(first_port, "leader")
    feeds = (tmp_path / "a" / "feeds.toml").read_text(encoding="utf-8")
    standby = await start_bot(
        env={**env, "METRICS_PORT": str(second_port)},
        feeds=feeds,
        workdir=tmp_path / "b",
        wait_ready=False,
    )
    await wait_role(second_port, "standby")
    return leader, standby, first_port, second_port, env, feeds


async def fan_out_until(tg, feed_server, n: int, count: int) -> int:
    """Publish story `n` and return the mark once `count` readers have it."""
    mark = tg.mark()
    publish(feed_server, story(n))
    sent: set[int] = set()

    def enough(call: ApiCall) -> bool:
        if call.ok and call.params.get("chat_id") in READERS:
            sent.add(call.index)
        return len(sent) >= count

    await tg.wait_for("sendMessage", enough, after=mark, timeout=30)
    return mark


def duplicates(tg, mark: int) -> int:
    per_chat = delivered(tg, after=mark)
    assert set(READERS) <= set(per_chat)
    return sum(n - 1 for chat, n in per_chat.items() if chat in READERS)


async def test_kill_9_of_the_leader_mid_fan_out(
    tg, start_bot, feed_server, reader, tmp_path, pg_server, unused_tcp_port_factory
):
    url = await pg_server.create_database()
    leader, standby, _, port, _, _ = await pair(
        start_bot, feed_server, tmp_path, url, unused_tcp_port_factory
    )
    assert standby.running
    mark = await fan_out_until(tg, feed_server, 1, 40)
    polls = tg.poll_count
    killed = time.monotonic()
    await leader.kill()
    await tg.wait_poll(after=polls, timeout=20)  # only a leader calls getUpdates
    takeover = time.monotonic() - killed
    print(f"\ntakeover after kill -9 of the leader: {takeover:.2f} s")
    assert takeover < 10
    assert (await wait_role(port, "leader"))["role"] == "leader"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            metrics = await response.text()
    assert "newsbot_leader 1.0" in metrics
    assert "newsbot_leader_changes_total 1.0" in metrics

    await wait_delivered(tg, READERS, after=mark, timeout=60)
    assert duplicates(tg, mark) <= IN_FLIGHT
    reply = await reader().ask("/start")  # the new leader polls: a reader is answered
    assert reply["text"]


async def test_rolling_restart_loses_nothing_and_polls_without_conflicts(
    tg, start_bot, feed_server, tmp_path, pg_server, unused_tcp_port_factory
):
    url = await pg_server.create_database()
    leader, _, first_port, second_port, _, _ = await pair(
        start_bot, feed_server, tmp_path, url, unused_tcp_port_factory
    )
    mark = await fan_out_until(tg, feed_server, 1, 20)
    assert await leader.stop() == 0  # SIGTERM: a deploy replaces this copy
    await wait_role(second_port, "leader")
    await leader.start(wait_ready=False)  # the new version comes back as a standby
    await wait_role(first_port, "standby")
    await wait_delivered(tg, READERS, after=mark, timeout=60)
    assert duplicates(tg, mark) == 0
    conflicts = [c for c in tg.calls_of("getUpdates") if c.status == 409]
    assert len(conflicts) <= 1, [c.brief() for c in conflicts]


async def test_a_leader_cut_off_from_the_database_stops_and_is_replaced(
    tg, start_bot, feed_server, tmp_path, pg_server, unused_tcp_port_factory
):
    url = await pg_server.create_database()
    leader, _, _, second_port, _, _ = await pair(
        start_bot, feed_server, tmp_path, url, unused_tcp_port_factory
    )
    mark = await fan_out_until(tg, feed_server, 1, 40)
    cut = await pg_server.terminate_connections(url, f"newsbot-%-{leader.pid}")
    assert cut >= 2  # its lock connection and its writer at least
    assert await leader.wait_exit(timeout=15) == 3
    assert "lost the leader lock" in leader.log_text()
    await wait_role(second_port, "leader")
    await wait_delivered(tg, READERS, after=mark, timeout=60)
    assert duplicates(tg, mark) <= IN_FLIGHT


WEBHOOK_URL = "https://news-bot.example/telegram/updates"
WEBHOOK_SECRET = "r3plica-Secret_for-tests"


async def test_webhook_replicas_handle_each_update_once_and_deliver_each_article_once(
    tg, start_bot, feed_server, reader, tmp_path, pg_server, unused_tcp_port_factory
):
    """Both copies serve the webhook behind a balancer that alternates between them; only
    the leader registers it and sends. A redelivery reaching the other copy is skipped."""
    url = await pg_server.create_database()
    await seed(tmp_path / "a", READERS, url=url)
    web = [unused_tcp_port_factory(), unused_tcp_port_factory()]
    ops = [unused_tcp_port_factory(), unused_tcp_port_factory()]
    tg.webhook_proxy = [f"http://127.0.0.1:{port}" for port in web]
    feed_server.serve("/a.xml", rss())
    feeds = feeds_toml(feed_server, "/a.xml")
    env = {
        "POLL_INTERVAL_SECONDS": "1",
        "SEND_RATE_PER_SECOND": "20",
        "DATABASE_URL": url,
        "WEBHOOK_URL": WEBHOOK_URL,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    copies = []
    for n, role in enumerate(("leader", "standby")):
        copies.append(
            await start_bot(
                env={**env, "WEB_PORT": str(web[n]), "METRICS_PORT": str(ops[n])},
                feeds=feeds,
                workdir=tmp_path / "ab"[n],
                wait_ready=False,
            )
        )
        await wait_role(ops[n], role)
    await tg.wait_for("setWebhook", timeout=30)
    await feed_server.wait_for_hits("/a.xml", 2)  # primed: the next item is news

    readers = [reader() for _ in range(12)]
    for one in readers:
        await one.ask("/start")
    await tg.wait_updates_consumed()
    assert all(status == 200 for _, status in tg.webhook_deliveries)
    for one in readers:
        assert len(one.messages) == 1, one
    handled = [copy.log_text().count("is handled") for copy in copies]
    assert all(handled), handled  # the balancer reached both copies

    # Telegram delivers an update again (our 200 was lost) and it reaches the other copy.
    update = tg.private_message(readers[0].chat_id, "/help")
    update["update_id"] = 900_100_001  # posted by the test itself, as Telegram would
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    before = tg.mark()
    for port in web:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"http://127.0.0.1:{port}/telegram/updates", json=update, headers=headers
            ) as response:
                assert response.status == 200
    await tg_barrier(tg)
    answers = tg.calls_of("sendMessage", chat_id=readers[0].chat_id)
    assert len([c for c in answers if c.index >= before]) == 1

    mark = tg.mark()
    publish(feed_server, story(1))
    await wait_delivered(tg, READERS, after=mark, timeout=60)
    assert duplicates(tg, mark) == 0
    assert not tg.calls_of("getUpdates"), "webhook mode must not long-poll"
