"""What editors' /stats picture shows, worked out from the snapshots (SPEC 8.5): pure
functions, kept apart from the drawing so they are tested without matplotlib."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date

from storage.snapshots import Snapshot

TOP_FEEDS = 5
MAX_TICKS = 7
TOPIC_LABEL, FEED_LABEL = 34, 22  # characters before "…"


def topic_rows(last: Snapshot | None, topic_name: Callable[[str], str]) -> list[tuple[str, int]]:
    """(name, subscribers) of the last day, biggest last: a horizontal bar chart draws
    the first row at the bottom, and a reader's eye starts at the top."""
    if last is None:
        return []
    rows = [(shorten(topic_name(key), TOPIC_LABEL), n) for key, n in last.topics.items()]
    rows.sort(key=lambda row: (-row[1], row[0].casefold()))
    return rows[::-1]


def feed_series(snapshots: Sequence[Snapshot], other: str) -> list[tuple[str, list[int]]]:
    """(label, articles per day): the TOP_FEEDS busiest feeds of the window, then the rest
    summed under `other`, so twenty feeds still give a legend one can read. Ties go by
    name, so a feed keeps its colour from one day's chart to the next."""
    totals: dict[str, int] = {}
    for snapshot in snapshots:
        for name, count in snapshot.articles.items():
            totals[name] = totals.get(name, 0) + count
    ranked = sorted((name for name, n in totals.items() if n), key=lambda f: (-totals[f], f))
    top = ranked[:TOP_FEEDS]
    series = [(shorten(name, FEED_LABEL), [s.articles.get(name, 0) for s in snapshots])
              for name in top]
    if len(ranked) > TOP_FEEDS:
        named = set(top)
        rest = [sum(n for name, n in s.articles.items() if name not in named) for s in snapshots]
        series.append((other, rest))
    return series


def date_ticks(first: date, last: date) -> list[date]:
    """At most MAX_TICKS days, evenly spaced back from `last` (the day an editor looks
    for), so 90 labels never collide."""
    step = max(1, math.ceil(((last - first).days + 1) / MAX_TICKS))
    days = range(last.toordinal(), first.toordinal() - 1, -step)
    return [date.fromordinal(d) for d in reversed(days)]


def number(n: int) -> str:
    """12 345: a space groups thousands in both languages without a locale."""
    return f"{n:,}".replace(",", " ")


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
