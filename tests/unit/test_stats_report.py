"""/stats [DAYS], its caption, and /export stats (SPEC 8.5): the pure parts."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from bot.delivery.render import visible_length
from bot.i18n import Catalogue
from bot.stats_report import parse_days, snapshots_csv
from bot.ui.staff_views import stats_caption, stats_text
from storage.snapshots import Snapshot
from storage.stats import Stats


@pytest.mark.parametrize(
    ("args", "days"),
    [(None, 30), ("", 30), (" 7 ", 7), ("90", 90), ("1", 1), ("400", 400)],
)
def test_days_of_the_window(args, days):
    assert parse_days(args) == days


@pytest.mark.parametrize("args", ["0", "401", "-7", "7.5", "seven", "²", "٣", "7 days", "1e3"])
def test_a_window_that_is_no_such_number_is_refused(args):
    assert parse_days(args) is None


def stats(topics: int, keywords: int) -> Stats:
    return Stats(
        readers_total=12_345,
        readers_active=12_000,
        readers_paused=300,
        readers_blocked=45,
        topics=[(f"topic_{n:02d}_long_name", 1000 - n) for n in range(topics)],
        keywords=[
            (f"ключевое слово номер {n} для проверки подписи & <b>", 500 - n)
            for n in range(keywords)
        ],
        feeds_ok=20,
        feeds_failing=1,
        articles_today=321,
        outbox={"pending": 1, "sent": 2, "failed": 3, "dropped": 4},
    )


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_caption_fits_1024_characters_by_shortening_the_lists(language):
    t = Catalogue.load().translator(language)
    small = stats(3, 2)
    assert stats_caption(t, small) == stats_text(t, small)  # what fits is left alone
    large = stats(18, 10)
    assert visible_length(stats_text(t, large)) > 1024
    caption = stats_caption(t, large)
    assert visible_length(caption) <= 1024
    assert "12345" in caption or "12 345" in caption  # the readers' line is kept
    assert ", …" in caption
    assert caption.count("<b>") == caption.count("</b>")
    assert "&amp;" in caption and "<b>ключевое" not in caption  # still escaped


def test_csv_has_a_column_per_figure_and_a_row_per_day():
    days = [
        Snapshot(
            day=date(2025, 3, 30),
            readers_total=10,
            readers_active=8,
            readers_new=2,
            topics={"china": 5},
            sent=40,
            failed={"bad_request": 1},
            articles={"niann": 7, "=cmd": 1},
            failing_feeds=("-bad", "vremyan"),
        ),
        Snapshot(day=date(2025, 3, 31), readers_total=11, topics={"trade": 3}, sent=41),
    ]
    data = snapshots_csv(days)
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [row["day"] for row in rows] == ["2025-03-30", "2025-03-31"]
    first, second = rows
    assert (first["topic_china"], first["topic_trade"]) == ("5", "0")
    assert (second["topic_china"], second["topic_trade"]) == ("0", "3")
    assert (first["messages_failed"], first["failed_bad_request"]) == ("1", "1")
    assert (first["articles_total"], first["feed_niann"]) == ("8", "7")
    assert first["failing_feeds"] == "'-bad vremyan"  # never read as a formula
    assert snapshots_csv([]).decode("utf-8-sig").startswith("day,readers_total")
