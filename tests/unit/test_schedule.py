from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.schedule import (
    Problem,
    ScheduleError,
    Window,
    digest_due,
    find_zone,
    is_quiet,
    parse_time,
    parse_window,
)

BERLIN = ZoneInfo("Europe/Berlin")
MOSCOW = ZoneInfo("Europe/Moscow")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("08:00", time(8, 0)), ("8:05", time(8, 5)), (" 23:59 ", time(23, 59)), ("00:00", time(0))],
)
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", Problem.EMPTY),
        ("   ", Problem.EMPTY),
        ("25:00", Problem.RANGE),
        ("24:00", Problem.RANGE),
        ("12:60", Problem.RANGE),
        ("8", Problem.FORMAT),
        ("8-9", Problem.FORMAT),
        ("8.30", Problem.FORMAT),
        ("08:5", Problem.FORMAT),
        ("123:00", Problem.FORMAT),
        ("ab:cd", Problem.FORMAT),
    ],
)
def test_bad_times_say_what_is_wrong(text, problem):
    with pytest.raises(ScheduleError) as caught:
        parse_time(text)
    assert caught.value.problem is problem


def test_parse_window():
    assert parse_window("23:00-08:00") == Window(time(23), time(8))
    assert parse_window("22:30 – 7:15") == Window(time(22, 30), time(7, 15))
    assert str(parse_window("9:00-17:00")) == "09:00-17:00"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", Problem.EMPTY),
        ("8-9", Problem.FORMAT),
        ("23:00", Problem.FORMAT),
        ("23:00-", Problem.FORMAT),
        ("-08:00", Problem.FORMAT),
        ("23:00-08:00-09:00", Problem.FORMAT),
        ("25:00-08:00", Problem.RANGE),
        ("08:00-08:00", Problem.SAME),
    ],
)
def test_bad_windows(text, problem):
    with pytest.raises(ScheduleError) as caught:
        parse_window(text)
    assert caught.value.problem is problem


def test_zone_names_are_validated_and_canonical():
    assert find_zone("Europe/Berlin") == "Europe/Berlin"
    assert find_zone(" asia/kolkata ") == "Asia/Kolkata"
    assert find_zone("Mars/Olympus") is None
    assert find_zone("") is None
    assert find_zone("../../etc/passwd") is None


def test_quiet_window_within_a_day():
    start, end = time(13), time(15)
    assert is_quiet(utc(2026, 6, 1, 11, 0), BERLIN, start, end)  # 13:00 CEST
    assert not is_quiet(utc(2026, 6, 1, 13, 0), BERLIN, start, end)  # 15:00: end excluded
    assert not is_quiet(utc(2026, 6, 1, 10, 59), BERLIN, start, end)


def test_quiet_window_across_midnight():
    start, end = time(23), time(8)
    assert is_quiet(utc(2026, 1, 10, 22, 30), BERLIN, start, end)  # 23:30 CET
    assert is_quiet(utc(2026, 1, 10, 23, 30), BERLIN, start, end)  # 00:30
    assert is_quiet(utc(2026, 1, 11, 6, 59), BERLIN, start, end)  # 07:59
    assert not is_quiet(utc(2026, 1, 11, 7, 0), BERLIN, start, end)  # 08:00
    assert not is_quiet(utc(2026, 1, 10, 12, 0), BERLIN, start, end)
    assert not is_quiet(utc(2026, 1, 10, 21, 59), BERLIN, start, end)  # 22:59


def test_quiet_window_is_in_the_readers_zone():
    start, end = time(23), time(8)
    moment = utc(2026, 1, 10, 21, 0)  # 22:00 in Berlin, 00:00 in Moscow
    assert not is_quiet(moment, BERLIN, start, end)
    assert is_quiet(moment, MOSCOW, start, end)


def test_no_window_is_never_quiet():
    assert not is_quiet(utc(2026, 1, 10, 23, 0), BERLIN, None, None)


def test_quiet_hours_follow_daylight_saving_changes():
    start, end = time(23), time(8)
    # 2026-03-29: Berlin goes from UTC+1 to UTC+2 at 01:00 UTC.
    assert is_quiet(utc(2026, 3, 29, 5, 30), BERLIN, start, end)  # 07:30 CEST
    assert not is_quiet(utc(2026, 3, 29, 6, 30), BERLIN, start, end)  # 08:30 CEST
    assert not is_quiet(utc(2026, 3, 28, 7, 30), BERLIN, start, end)  # 08:30 CET the day before
    # 2026-10-25: back to UTC+1 at 01:00 UTC.
    assert is_quiet(utc(2026, 10, 25, 6, 30), BERLIN, start, end)  # 07:30 CET
    assert not is_quiet(utc(2026, 10, 25, 7, 0), BERLIN, start, end)  # 08:00 CET
    assert is_quiet(utc(2026, 10, 24, 21, 30), BERLIN, start, end)  # 23:30 CEST
    assert not is_quiet(utc(2026, 10, 24, 20, 30), BERLIN, start, end)  # 22:30 CEST


def test_digest_due_once_its_local_time_has_passed():
    at = time(8)
    assert not digest_due(utc(2026, 6, 1, 5, 59), BERLIN, at, None)  # 07:59 CEST
    assert digest_due(utc(2026, 6, 1, 6, 0), BERLIN, at, None)  # 08:00
    assert digest_due(utc(2026, 6, 1, 21, 0), BERLIN, at, "2026-05-31")  # missed: caught up
    assert not digest_due(utc(2026, 6, 1, 21, 0), BERLIN, at, "2026-06-01")  # done today
    assert not digest_due(utc(2026, 6, 1, 21, 0), BERLIN, None, None)  # instant reader


def test_digest_day_is_the_readers_local_date():
    # 22:30 UTC on June 1 is already June 2 in Moscow (UTC+3) and 00:30 there.
    moment = utc(2026, 6, 1, 22, 30)
    assert digest_due(moment, MOSCOW, time(0, 15), "2026-06-01")
    assert not digest_due(moment, MOSCOW, time(0, 15), "2026-06-02")
    assert not digest_due(moment, MOSCOW, time(8), "2026-06-01")


def test_digest_across_daylight_saving_changes():
    # Spring forward: 02:30 does not exist on 2026-03-29 in Berlin; due from 03:00 CEST.
    at = time(2, 30)
    assert not digest_due(utc(2026, 3, 29, 0, 59), BERLIN, at, "2026-03-28")  # 01:59 CET
    assert digest_due(utc(2026, 3, 29, 1, 0), BERLIN, at, "2026-03-28")  # 03:00 CEST
    # Fall back: 02:30 happens twice on 2026-10-25; once the day is done, never again.
    assert digest_due(utc(2026, 10, 25, 0, 30), BERLIN, at, "2026-10-24")  # 02:30 CEST
    assert not digest_due(utc(2026, 10, 25, 1, 30), BERLIN, at, "2026-10-25")  # 02:30 CET
    # An 08:00 digest is at 06:00 UTC in summer time and 07:00 UTC after the change.
    assert digest_due(utc(2026, 10, 24, 6, 0), BERLIN, time(8), "2026-10-23")
    assert not digest_due(utc(2026, 10, 25, 6, 30), BERLIN, time(8), "2026-10-24")
    assert digest_due(utc(2026, 10, 25, 7, 0), BERLIN, time(8), "2026-10-24")
