"""Webhook mode (SPEC 3): the bot registers WEBHOOK_URL with its secret and serves
updates on WEB_HOST:WEB_PORT; the fake Telegram posts to it as a TLS-terminating proxy
in front of the bot would. A request without the secret gets 401 and is not processed.
"""

import asyncio
import json

import aiohttp
from fake_telegram import FakeTelegram
from harness import BotProcess, query, tg_barrier

SECRET = "w3bh00k-Secret_for-tests"
PUBLIC_URL = "https://news-bot.example/telegram/updates"
PATH = "/telegram/updates"
FORGER = 660_000_001


def webhook_env(port: int, **extra: str) -> dict[str, str]:
    return {"WEBHOOK_URL": PUBLIC_URL, "WEBHOOK_SECRET": SECRET, "WEB_PORT": str(port), **extra}


async def start_webhook_bot(start_bot, tg: FakeTelegram, port: int, **extra: str) -> BotProcess:
    """Start the bot and return once Telegram knows its webhook (no long polling here)."""
    tg.webhook_proxy = f"http://127.0.0.1:{port}"
    mark = tg.mark()
    bot = await start_bot(env=webhook_env(port, **extra), wait_ready=False)
    registered = asyncio.ensure_future(tg.wait_for("setWebhook", after=mark, timeout=30))
    exited = asyncio.ensure_future(bot.wait_exit(timeout=30))
    await asyncio.wait({registered, exited}, return_when=asyncio.FIRST_COMPLETED)
    if not registered.done():
        registered.cancel()
        raise AssertionError(f"bot exited before setWebhook.\n{bot.log_tail()}")
    exited.cancel()
    assert registered.result().ok, registered.result().brief()
    return bot


async def post(port: int, body: bytes | dict, headers: dict[str, str] | None = None) -> int:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{port}{PATH}",
            data=data,
            headers={"Content-Type": "application/json", **(headers or {})},
        ) as response:
            await response.read()
            return response.status


async def test_webhook_mode_serves_readers_and_refuses_forged_updates(
    tg, start_bot, reader, unused_tcp_port
):
    port = unused_tcp_port
    bot = await start_webhook_bot(start_bot, tg, port)

    registered = tg.calls_of("setWebhook")[-1].params
    assert registered["url"] == PUBLIC_URL
    assert registered["secret_token"] == SECRET
    assert {"message", "callback_query"} <= set(registered["allowed_updates"])
    assert not tg.calls_of("deleteWebhook"), "webhook mode must not remove its own webhook"

    ann = reader()
    greeting = await ann.ask("/start")
    assert greeting["text"]
    await tg.wait_updates_consumed()  # the fake heard the bot's 200
    assert tg.webhook_deliveries and all(status == 200 for _, status in tg.webhook_deliveries)
    assert not tg.calls_of("getUpdates"), "webhook mode must not long-poll"

    forged = tg.private_message(FORGER, "/start")
    forged["update_id"] = 900_000_001
    assert await post(port, forged) == 401  # no secret
    assert await post(port, forged, {"X-Telegram-Bot-Api-Secret-Token": "guess"}) == 401
    assert await post(port, forged, {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}) == 401
    right = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert await post(port, b"\xff not json", right) == 400
    assert await post(port, {"not": "an update"}, right) == 400
    await tg_barrier(tg)  # later updates were handled, so the forged one would have been
    assert not tg.calls_of("sendMessage", chat_id=FORGER)
    assert query(bot, "SELECT count(*) FROM chats WHERE chat_id = ?", (FORGER,)) == [(0,)]
    assert "webhook request refused: missing or wrong secret token" in bot.log_text()

    # Telegram delivering the same update twice (say our 200 was lost): handled once.
    again = tg.private_message(FORGER + 1, "/help")
    again["update_id"] = 900_000_002
    assert await post(port, again, right) == 200
    assert await post(port, again, right) == 200
    await tg_barrier(tg)
    assert len(tg.calls_of("sendMessage", chat_id=FORGER + 1)) == 1

    assert await bot.stop() == 0
    assert not tg.calls_of("deleteWebhook"), "the webhook stays so Telegram keeps updates"
    assert tg.webhook_url == PUBLIC_URL


async def test_updates_sent_while_the_bot_is_down_arrive_after_restart(
    tg, start_bot, reader, unused_tcp_port
):
    port = unused_tcp_port
    bot = await start_webhook_bot(start_bot, tg, port)
    assert await bot.stop() == 0

    ann = reader()
    ann_update = tg.queue_update(tg.private_message(ann.user_id, "/start"))
    await tg.wait_for("setWebhook", timeout=1)  # (already there: the fake keeps the URL)
    # The fake tries to deliver while nobody listens; the update stays queued.
    assert tg.pending_updates() == 1

    mark = tg.mark()
    await bot.start(wait_ready=False)
    # Start-up first (imports alone take seconds on a loaded 2-core CI machine), then the
    # queued update must be answered promptly.
    await tg.wait_for("setWebhook", after=mark, timeout=30)
    await tg.wait_for("sendMessage", lambda c: c.params.get("chat_id") == ann.user_id, after=mark)
    await tg.wait_updates_consumed()
    assert any(uid == ann_update and status == 200 for uid, status in tg.webhook_deliveries)


async def test_a_webhook_url_telegram_refuses_stops_start_up_with_a_clear_line(
    tg, start_bot, unused_tcp_port
):
    bot = await start_bot(
        env={**webhook_env(unused_tcp_port), "WEBHOOK_URL": "http://news-bot.example/hook"},
        wait_ready=False,
    )
    assert await bot.wait_exit(timeout=30) == 2
    assert "WEBHOOK_URL: Telegram refused the webhook" in bot.log_text()
    assert SECRET not in bot.log_text()


async def test_webhook_mode_without_a_secret_refuses_to_start(tg, start_bot, unused_tcp_port):
    env = {**webhook_env(unused_tcp_port), "WEBHOOK_SECRET": ""}
    bot = await start_bot(env=env, wait_ready=False)
    assert await bot.wait_exit(timeout=30) == 2
    assert "WEBHOOK_SECRET: is required when WEBHOOK_URL is set" in bot.log_text()
    assert not tg.calls_of("setWebhook")
