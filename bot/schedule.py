"""Readers' schedules (SPEC 4.11, 4.12): pure decisions about local times, no I/O.

Times are minutes of a local day ('HH:MM'); a moment is always a UTC `datetime`
converted into the reader's zone here, so daylight-saving changes are the zone
database's business: a digest at 02:30 on the night the clocks skip that hour is due at
03:00, and on the night 02:30 happens twice it is sent once (the day is marked done).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


class Problem(enum.Enum):
    EMPTY = "empty"
    FORMAT = "format"  # not HH:MM (e.g. "8", "8-9", "8.30")
    RANGE = "range"  # HH:MM out of range (e.g. "25:00", "12:60")
    SAME = "same"  # a quiet window that starts when it ends


class ScheduleError(ValueError):
    def __init__(self, problem: Problem, text: str) -> None:
        super().__init__(f"{problem.value}: {text!r}")
        self.problem = problem
        self.text = text


@dataclass(frozen=True)
class Window:
    """Quiet hours [start, end) in local time; start > end crosses midnight."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{format_time(self.start)}-{format_time(self.end)}"


def format_time(moment: time) -> str:
    return moment.strftime("%H:%M")


def parse_time(text: str) -> time:
    """'HH:MM' (or 'H:MM') -> time; ScheduleError says what is wrong."""
    text = (text or "").strip()
    if not text:
        raise ScheduleError(Problem.EMPTY, text)
    match = _TIME.match(text)
    if not match:
        raise ScheduleError(Problem.FORMAT, text)
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23 or minutes > 59:
        raise ScheduleError(Problem.RANGE, text)
    return time(hours, minutes)


def parse_window(text: str) -> Window:
    """'HH:MM-HH:MM' -> Window; '23:00-08:00' crosses midnight."""
    text = (text or "").strip()
    if not text:
        raise ScheduleError(Problem.EMPTY, text)
    parts = re.split(r"\s*[-–—]\s*", text)
    if len(parts) != 2 or not all(parts):
        raise ScheduleError(Problem.FORMAT, text)
    start, end = parse_time(parts[0]), parse_time(parts[1])
    if start == end:
        raise ScheduleError(Problem.SAME, text)
    return Window(start, end)


@cache
def _zone_names() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


def find_zone(text: str) -> str | None:
    """The canonical IANA name for `text` ('europe/berlin' -> 'Europe/Berlin'), else None."""
    name = _zone_names().get((text or "").strip().casefold())
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def in_window(local: time, start: time, end: time) -> bool:
    if start < end:
        return start <= local < end
    return local >= start or local < end  # crosses midnight


def is_quiet(now_utc: datetime, zone: ZoneInfo, start: time | None, end: time | None) -> bool:
    """Whether `now_utc` falls in the reader's quiet hours, in their zone."""
    if start is None or end is None or start == end:
        return False
    local = now_utc.astimezone(zone).time().replace(tzinfo=None)
    return in_window(local, start, end)


def local_date(now_utc: datetime, zone: ZoneInfo) -> date:
    return now_utc.astimezone(zone).date()


def digest_due(
    now_utc: datetime, zone: ZoneInfo, digest_time: time | None, last_digest_on: str | None
) -> bool:
    """Today's digest (local date) is due once its local time has passed and it was not
    sent today. A day the bot was down past the time is caught up once, on start-up."""
    if digest_time is None:
        return False
    local = now_utc.astimezone(zone)
    if last_digest_on == local.date().isoformat():
        return False
    return local.time().replace(tzinfo=None) >= digest_time
