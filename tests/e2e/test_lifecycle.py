"""Start-up and shutdown of the real process (SPEC 2): exit codes, one-line errors, signals."""

import asyncio
import signal

import pytest


def output_lines(bot):
    return [line for line in bot.log_text().splitlines() if not line.startswith("=====")]


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"BOT_TOKEN": None}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "12345"}, "BOT_TOKEN"),
        ({"ADMIN_IDS": "alice"}, "ADMIN_IDS"),
        ({"TIMEZONE": "Moon/Base"}, "TIMEZONE"),
        ({"DATABASE_PATH": "/proc/forbidden/newsbot.sqlite3"}, "DATABASE_PATH"),
        ({"TOPICS_FILE": "/nonexistent.toml"}, "TOPICS_FILE"),
        ({"DATABASE_URL": "postgresql://newsbot:s3cret-Pw@:5432/"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://newsbot:s3cret-Pw@db/newsbot"}, "DATABASE_URL"),
    ],
)
async def test_bad_setting_exits_2_with_one_clear_line(start_bot, tg, env, setting):
    bot = await start_bot(env=env, wait_ready=False)
    assert await bot.wait_exit(timeout=20) == 2
    lines = output_lines(bot)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"newsbot: configuration error: {setting}: ")
    assert "Traceback" not in bot.log_text()
    assert "s3cret" not in bot.log_text()
    assert tg.calls_of("getUpdates") == []


async def test_malformed_feeds_file_names_the_setting(start_bot):
    bot = await start_bot(feeds='[[feeds]]\nurl = "ftp://example.org/rss"\n', wait_ready=False)
    assert await bot.wait_exit(timeout=20) == 2
    assert output_lines(bot)[-1].startswith("newsbot: configuration error: FEEDS_FILE: ")


async def test_token_rejected_by_telegram_exits_2(start_bot, tg):
    tg.fail_next("getMe", status=401, description="Unauthorized")
    bot = await start_bot(wait_ready=False)
    assert await bot.wait_exit(timeout=20) == 2
    assert "BOT_TOKEN: Telegram rejected the token" in bot.log_text()
    assert "Traceback" not in bot.log_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_stops_cleanly_with_exit_0(start_bot, reader, sig):
    bot = await start_bot()
    await reader().ask("/start")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.stop(sig=sig, timeout=10) == 0
    assert loop.time() - started < 10
    assert "Traceback" not in bot.log_text()
    assert "stopped" in bot.log_text()


async def test_token_never_logged(start_bot, reader, tg):
    bot = await start_bot()
    await reader().ask("/start")
    await bot.stop()
    assert tg.token not in bot.log_text()
    assert tg.token.split(":")[1] not in bot.log_text()


async def test_start_survives_telegram_being_down_at_start(start_bot, tg, reader):
    tg.fail_next("setMyCommands", status=502, times=1)
    await start_bot()
    assert "Hello" in (await reader().ask("/start"))["text"]


async def test_second_copy_on_the_same_database_exits_2(start_bot, reader):
    first = await start_bot()
    second = await start_bot(workdir=first.workdir, wait_ready=False)
    assert await second.wait_exit(timeout=20) == 2
    assert "DATABASE_PATH: another newsbot is already running" in second.log_text()
    # The first copy is unaffected.
    assert "Hello" in (await reader().ask("/start"))["text"]


async def test_telegram_unreachable_at_start_is_retried_and_sigterm_still_works(
    start_bot, unused_tcp_port
):
    bot = await start_bot(
        env={"TELEGRAM_API_BASE": f"http://127.0.0.1:{unused_tcp_port}"}, wait_ready=False
    )
    log_path = bot.log_path
    for _ in range(600):  # within 30 s even on a loaded machine (imports take seconds)
        if "Telegram unreachable at start-up" in log_path.read_text(errors="replace"):
            break
        await asyncio.sleep(0.05)
    assert bot.running
    assert await bot.stop(timeout=10) == 0
    assert "Traceback" not in bot.log_text()
