"""Operations (SPEC 8b): /healthz and /metrics, the 409 Conflict report, JSON logs."""

import itertools
import json

import aiohttp
from feedgen import feeds_toml, now, rss

FAST = {"POLL_INTERVAL_SECONDS": "1"}
CHINA_ITEM = (
    "china-1",
    "Китайский автоконцерн откроет сборку в Нижегородской области",
    "https://news.example/china-1",
    None,
    "Совместное предприятие с партнёрами из КНР локализует производство.",
)


async def fetch(port, path):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}{path}") as response:
            return response.status, response.headers.get("Content-Type", ""), await response.text()


def metric_value(text, name, labels=""):
    """The value of one sample line `name{labels} value` of the exposition format."""
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    raise AssertionError(f"no sample {prefix.strip()!r} in:\n{text}")


def output_lines(bot):
    return [line for line in bot.log_text().splitlines() if not line.startswith("=====")]


async def test_healthz_and_metrics_report_a_push(start_bot, reader, feed_server, unused_tcp_port):
    feed_server.serve("/a.xml", rss())
    bot = await start_bot(
        env={**FAST, "METRICS_PORT": str(unused_tcp_port)},
        feeds=feeds_toml(feed_server, "/a.xml"),
    )
    ann = reader()
    await ann.ask("/subscribe china")
    await feed_server.wait_for_hits("/a.xml", 2)

    status, ctype, body = await fetch(unused_tcp_port, "/healthz")
    assert status == 200, body
    assert ctype.startswith("application/json")
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["database"] is True
    assert health["scheduler"] is True
    assert health["sender"] is True
    assert health["last_poll_at"] is not None
    assert health["role"] == "leader"  # SQLite: one copy, always the leader

    status, ctype, body = await fetch(unused_tcp_port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    for name in (
        "newsbot_feed_polls_total",
        "newsbot_feed_poll_failures_total",
        'newsbot_feeds{state="failing"}',
        "newsbot_articles_stored",
        "newsbot_messages_sent_total",
        'newsbot_messages_failed_total{reason="dropped"}',
        "newsbot_outbox_depth",
        "newsbot_send_latency_seconds_count",
        "newsbot_last_poll_timestamp_seconds",
    ):
        assert name in body, name
    assert metric_value(body, "newsbot_feed_polls_total") >= 1
    assert metric_value(body, "newsbot_leader") == 1
    assert metric_value(body, "newsbot_leader_changes_total") == 0

    sent_before = metric_value(body, "newsbot_messages_sent_total")
    title, link, summary = CHINA_ITEM[1], CHINA_ITEM[2], CHINA_ITEM[4]
    feed_server.replace("/a.xml", rss((CHINA_ITEM[0], title, link, now(), summary)))
    await ann.expect_message(contains=title, timeout=20)

    # The send is counted once its result is stored; poll the scrape, not the clock.
    for _ in range(50):
        _, _, body = await fetch(unused_tcp_port, "/metrics")
        if metric_value(body, "newsbot_messages_sent_total") > sent_before:
            break
        await ann.barrier()
    assert metric_value(body, "newsbot_messages_sent_total") > sent_before
    assert metric_value(body, "newsbot_send_latency_seconds_count") > 0
    assert metric_value(body, "newsbot_articles_stored") >= 1
    assert bot.tg.token not in body


async def test_taken_metrics_port_exits_2_naming_it(start_bot, unused_tcp_port):
    first = await start_bot(env={"METRICS_PORT": str(unused_tcp_port)})
    second = await start_bot(env={"METRICS_PORT": str(unused_tcp_port)}, wait_ready=False)
    assert await second.wait_exit(timeout=20) == 2
    assert output_lines(second)[-1].startswith("newsbot: configuration error: METRICS_PORT: ")
    assert first.running


async def test_conflict_409_is_reported_clearly_and_retried_with_backoff(start_bot, tg, reader):
    tg.fail_next("getUpdates", status=409, times=3)
    bot = await start_bot()
    await reader().ask("/help", timeout=30)

    conflicts = [call for call in tg.calls_of("getUpdates") if call.status == 409]
    assert len(conflicts) == 3
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(conflicts)]
    assert all(gap >= 0.8 for gap in gaps), gaps
    log = bot.log_text()
    assert "another bot instance is polling this token" in log
    assert "polling resumed after 3 conflict(s)" in log


async def test_json_logs_are_one_object_a_line_without_the_token(start_bot, tg, reader):
    bot = await start_bot(env={"LOG_FORMAT": "json"})
    await reader().ask("/start")
    assert await bot.stop() == 0
    lines = output_lines(bot)
    assert lines
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    assert any(record["message"] == "stopped" for record in records)
    assert tg.token not in bot.log_text()


async def test_bad_log_format_exits_2_with_one_line(start_bot):
    bot = await start_bot(env={"LOG_FORMAT": "xml"}, wait_ready=False)
    assert await bot.wait_exit(timeout=20) == 2
    lines = output_lines(bot)
    assert len(lines) == 1, lines
    assert lines[0].startswith("newsbot: configuration error: LOG_FORMAT: ")
