"""Editors' /stats chart and /export stats (SPEC 8.5) through the real bot: snapshots
seeded into its database, the picture checked as Telegram would receive it."""

from __future__ import annotations

import csv
import io
import struct
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from delivery_helpers import wait_stored
from fake_telegram import ApiCall, UploadedFile, utf16_len
from harness import query

from storage.database import Database
from storage.snapshots import Snapshot, SnapshotRepository

ADMIN = 900
ZONE = ZoneInfo("Europe/Moscow")  # the default TIMEZONE
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def yesterday() -> date:
    return datetime.now(UTC).astimezone(ZONE).date() - timedelta(days=1)


def history(days: int) -> list[Snapshot]:
    """`days` growing days up to yesterday: the start-up snapshot has nothing to add."""
    last = yesterday()
    return [
        Snapshot(
            day=last - timedelta(days=days - 1 - n),
            readers_total=100 + 5 * n,
            readers_active=90 + 4 * n,
            readers_new=5,
            topics={"china": 40 + n, "trade": 30, "pharma": 10 + n // 2},
            keyword_subscriptions=12,
            source_subscriptions=3,
            sent=300 + 10 * n,
            failed={"bad_request": n % 3, "blocked": 1},
            articles={"niann": 20 + n % 5, "vremyan": 12, "rbc": 30},
        )
        for n in range(days)
    ]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a PNG must start with."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


async def photo_to(tg, chat_id: int, after: int) -> ApiCall:
    return await tg.wait_for(
        "sendPhoto", lambda c: c.params.get("chat_id") == chat_id, after=after, timeout=30
    )


async def test_stats_sends_the_chart_with_todays_figures_as_caption(
    tg, start_bot, reader, tmp_path
):
    workdir = tmp_path / "bot"
    db = await Database.open(workdir / "newsbot.sqlite3")
    try:
        await SnapshotRepository(db).store(history(30))
    finally:
        await db.close()
    bot = await start_bot(env={"ADMIN_IDS": str(ADMIN)}, workdir=workdir)
    admin = reader(ADMIN, language_code="ru")
    await admin.ask("/start")

    for command in ("/stats", "/stats 7", "/stats 90"):
        mark = tg.mark()
        await admin.send(command)
        call = await photo_to(tg, ADMIN, mark)
        assert call.ok, call.brief()
        photo = call.params["photo"]
        assert isinstance(photo, UploadedFile) and photo.filename == "stats.png"
        width, height = png_size(photo.content)
        assert width >= 800 and height >= 600, (command, width, height)
        caption = call.params["caption"]
        assert utf16_len(call.result["caption"]) <= 1024
        assert "Статистика" in caption and "Читатели" in caption

    usage = await admin.ask("/stats 0")
    assert "/stats 7" in usage["text"]
    assert query(bot, "SELECT count(*) FROM stats_snapshots") == [(30,)]

    mark = tg.mark()
    await admin.send("/export stats")
    document = await tg.wait_for(
        "sendDocument", lambda c: c.params.get("chat_id") == ADMIN, after=mark, timeout=10
    )
    table = document.params["document"]
    assert isinstance(table, UploadedFile) and table.filename == "stats.csv"
    rows = list(csv.DictReader(io.StringIO(table.content.decode("utf-8-sig"))))
    assert len(rows) == 30 and rows[-1]["day"] == yesterday().isoformat()
    assert rows[-1]["topic_china"] == "69" and rows[-1]["feed_rbc"] == "30"

    stranger = reader()
    refused = await stranger.ask("/stats")
    assert "editors" in refused["text"].lower(), refused["text"]
    assert not tg.calls_of("sendPhoto", chat_id=stranger.chat_id)


async def test_with_fewer_than_two_snapshots_stats_is_text(tg, start_bot, reader):
    bot = await start_bot(env={"ADMIN_IDS": str(ADMIN)})
    admin = reader(ADMIN)
    reply = await admin.ask("/stats")
    assert "Statistics" in reply["text"] and "Readers" in reply["text"]
    assert not tg.calls_of("sendPhoto")
    # The start-up takes the snapshot of yesterday, which was missing: the only one.
    only_yesterday = [(yesterday().isoformat(),)]
    await wait_stored(bot.db_path, "SELECT day FROM stats_snapshots", only_yesterday.__eq__)
    mark = tg.mark()
    await admin.send("/export stats")
    document = await tg.wait_for(
        "sendDocument", lambda c: c.params.get("chat_id") == ADMIN, after=mark, timeout=10
    )
    lines = document.params["document"].content.decode("utf-8-sig").splitlines()
    assert len(lines) == 2 and lines[1].startswith(yesterday().isoformat())
