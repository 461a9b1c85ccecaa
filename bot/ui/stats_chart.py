"""Editors' /stats picture (SPEC 8.5): four panels drawn from the daily snapshots.

matplotlib is imported inside `render_chart`, so a bot that never sees /stats never pays
for it. Only its object API is used (`Figure` and the Agg canvas): pyplot keeps global
figures. Every style is passed explicitly rather than set in the global rcParams, which
another thread could be reading. matplotlib does not promise thread safety, so renders
take turns under a lock; the caller runs this in `asyncio.to_thread`.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable, Sequence
from functools import cache

from bot.i18n import Translator
from bot.ui.stats_series import TOP_FEEDS, date_ticks, feed_series, number, topic_rows
from storage.snapshots import Snapshot

WIDTH, HEIGHT, DPI = 1280, 960, 120  # 4:3 reads on a phone; the DPI sets the text size
FONT = "DejaVu Sans"  # ships with matplotlib and has Cyrillic: no system fonts needed
DAY_FORMAT, PERIOD_FORMAT = "%d.%m", "%d.%m.%Y"
# The tab10 colours by value, so a changed rcParams prop_cycle cannot restyle the chart.
PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f")
WARNING = "#d62728"

# Panels' pixel edges, from the left and the bottom: room for "123 456" on the y axes,
# a panel title above and dates below each.
COLUMNS = ((75, 610), (715, 1255))
ROWS = ((40, 410), (480, 855))
TOPIC_PAD = 14  # the image's edge to a topic name, plus the name's gap to its bar

_LOCK = threading.Lock()


def render_chart(
    snapshots: Sequence[Snapshot],
    *,
    t: Translator,
    topic_name: Callable[[str], str],
    days: int,
) -> bytes:
    """The PNG (WIDTH x HEIGHT) of `snapshots`, oldest first, already cut to the `days`
    the title names; labels in `t`'s language, topics named by `topic_name(id)`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    last = snapshots[-1] if snapshots else None
    with _LOCK:
        topics = [(_safe(name), n) for name, n in topic_rows(last, topic_name)]
        figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
        canvas = FigureCanvasAgg(figure)
        title = t.plain("chart.title", days=days)
        if snapshots:
            first, last_day = (s.day.strftime(PERIOD_FORMAT) for s in (snapshots[0], last))
            period = t.plain("chart.period", first=first, last=last_day)
            title = f"{title}\n{period if first != last_day else first}"
        figure.suptitle(_safe(title), y=0.99, va="top", fontfamily=FONT, fontsize=14,
                        fontweight="bold")
        width = _widest(canvas, [label for label, _ in topics], _topic_size(topics))
        _readers(_panel(figure, 0, 1), snapshots, t)
        _messages(_panel(figure, 1, 1), snapshots, t)
        _topics(_panel(figure, 0, 0, left=TOPIC_PAD + width), last, topics, t)
        _articles(_panel(figure, 1, 0), snapshots, t)
        out = io.BytesIO()
        canvas.print_png(out, metadata={"Software": None}, pil_kwargs={"compress_level": 3})
        return out.getvalue()


def _panel(figure, column: int, row: int, left: float | None = None):
    """Axes at fixed pixel places: matplotlib's constrained layout measured every tick
    label twice and took most of the time budget. Only the topic names vary in width,
    so they alone are measured (`left`)."""
    x0, x1 = COLUMNS[column]
    y0, y1 = ROWS[row]
    x0 = max(x0, left or 0)
    return figure.add_axes((x0 / WIDTH, y0 / HEIGHT, (x1 - x0) / WIDTH, (y1 - y0) / HEIGHT))


def _widest(canvas, labels: list[str], size: float) -> float:
    """The pixel width of the widest label, as Agg will draw it."""
    from matplotlib.font_manager import FontProperties

    renderer, font = canvas.get_renderer(), FontProperties(family=FONT, size=size)
    return max(
        (renderer.get_text_width_height_descent(label, font, ismath=False)[0]
         for label in labels),
        default=0.0,
    )


def _readers(ax, snapshots: Sequence[Snapshot], t: Translator) -> None:
    _title(ax, t.plain("chart.readers"))
    if not _has_days(ax, snapshots, t):
        return
    x = _x(snapshots)
    marker = "o" if len(snapshots) <= 31 else None
    ax.plot(x, [s.readers_total for s in snapshots], color=PALETTE[0], marker=marker,
            markersize=3, linewidth=2, label=_safe(t.plain("chart.readers_total")))
    ax.plot(x, [s.readers_active for s in snapshots], color=PALETTE[1], marker=marker,
            markersize=3, linewidth=2, label=_safe(t.plain("chart.readers_active")))
    top = max(max(s.readers_total, s.readers_active) for s in snapshots)
    _finish(ax, snapshots, top, legend_rows=1, ncol=2)


def _messages(ax, snapshots: Sequence[Snapshot], t: Translator) -> None:
    _title(ax, t.plain("chart.messages"))
    if not _has_days(ax, snapshots, t):
        return
    top = _stacked_bars(ax, _x(snapshots), [
        (t.plain("chart.sent"), PALETTE[0], [s.sent for s in snapshots]),
        (t.plain("chart.failed"), WARNING, [s.failed_total for s in snapshots]),
    ])
    _finish(ax, snapshots, top, legend_rows=1, ncol=2)


def _topic_size(rows: list[tuple[str, int]]) -> float:
    return 10 if len(rows) <= 12 else 8.5


def _topics(ax, last: Snapshot | None, rows: list[tuple[str, int]], t: Translator) -> None:
    day = last.day.strftime(PERIOD_FORMAT) if last else "—"
    _title(ax, t.plain("chart.topics", day=day))
    if not rows:
        _no_data(ax, t)
        return
    from matplotlib.transforms import blended_transform_factory

    size = _topic_size(rows)
    top = max(max(n for _, n in rows), 1)
    ax.barh(range(len(rows)), [n for _, n in rows], height=0.7, color=PALETTE[2])
    # Names and counts as plain texts, not ticks and bar labels: a tick is five artists,
    # and 18 of them cost a tenth of the time budget.
    names = blended_transform_factory(ax.transAxes, ax.transData)
    for y, (label, n) in enumerate(rows):
        ax.text(-0.015, y, label, transform=names, ha="right", va="center",
                fontfamily=FONT, fontsize=size)
        ax.text(n + top * 0.01, y, number(n), va="center", fontfamily=FONT, fontsize=size)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(0, top * 1.15)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)


def _articles(ax, snapshots: Sequence[Snapshot], t: Translator) -> None:
    _title(ax, t.plain("chart.articles"))
    series = feed_series(snapshots, t.plain("chart.other_feeds"))
    if not series:
        _no_data(ax, t)
        return
    colours = [*PALETTE[:TOP_FEEDS], PALETTE[-1]]
    top = _stacked_bars(ax, _x(snapshots), [
        (label, colours[index], counts) for index, (label, counts) in enumerate(series)
    ])
    _finish(ax, snapshots, top, legend_rows=math.ceil(len(series) / 3), ncol=3)


def _stacked_bars(ax, x, series: list[tuple[str, str, list[int]]]) -> int:
    """Bars of each (label, colour, counts) stacked in order; the tallest stack. One
    PolyCollection per series: 90 days of `ax.bar` patches took most of a second."""
    import numpy as np
    from matplotlib.collections import PolyCollection

    left, right = np.asarray(x) - 0.4, np.asarray(x) + 0.4
    bottom = np.zeros(len(left))
    for label, color, counts in series:
        top = bottom + np.asarray(counts, dtype=float)
        corners = np.stack(
            [np.column_stack(pair) for pair in
             ((left, bottom), (left, top), (right, top), (right, bottom))],
            axis=1,
        )
        ax.add_collection(PolyCollection(
            corners[top > bottom], facecolors=color, edgecolors="none", label=_safe(label)
        ), autolim=False)
        bottom = top
    return int(bottom.max(initial=0))


def _finish(ax, snapshots: Sequence[Snapshot], top: int, *, legend_rows: int, ncol: int) -> None:
    """Date axis, integer counts, and headroom above the data for the legend."""
    from matplotlib.dates import DateFormatter, date2num
    from matplotlib.font_manager import FontProperties

    ticks = date_ticks(snapshots[0].day, snapshots[-1].day)
    ax.set_xticks(date2num(ticks))
    ax.xaxis.set_major_formatter(DateFormatter(DAY_FORMAT))
    first, last = date2num(snapshots[0].day), date2num(snapshots[-1].day)
    ax.set_xlim(first - 0.7, last + 0.7)
    ax.tick_params(labelsize=9, labelfontfamily=FONT)
    _integer_axis(ax.yaxis)
    ax.set_ylim(0, max(top, 1) * (1.12 + 0.1 * legend_rows))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", ncol=ncol, frameon=False, handlelength=1.2,
              columnspacing=1.0, prop=FontProperties(family=FONT, size=9))


def _integer_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=4, integer=True, min_n_ticks=1))
    axis.set_major_formatter(FuncFormatter(lambda value, _: number(round(value))))


def _title(ax, text: str) -> None:
    ax.set_title(_safe(text), fontfamily=FONT, fontsize=12, loc="left")


def _has_days(ax, snapshots: Sequence[Snapshot], t: Translator) -> bool:
    if snapshots:
        return True
    _no_data(ax, t)
    return False


def _no_data(ax, t: Translator) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, _safe(t.plain("chart.no_data")), ha="center", va="center",
            transform=ax.transAxes, fontfamily=FONT, fontsize=11, color="#777777")


def _x(snapshots: Sequence[Snapshot]):
    from matplotlib.dates import date2num

    return date2num([s.day for s in snapshots])


def _safe(text: str) -> str:
    """Text as drawn: "$" escaped, since a pair would start mathtext; characters the
    font lacks (a feed named in Chinese, an emoji) become "?" instead of an empty box and a
    "Glyph missing" warning."""
    known = _charmap()
    return "".join(c if ord(c) in known or c == "\n" else "?" for c in text).replace(
        "$", r"\$"
    )


@cache
def _charmap() -> frozenset[int]:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(
        font_manager.FontProperties(family=FONT), fallback_to_default=False
    )
    return frozenset(FT2Font(path).get_charmap())
