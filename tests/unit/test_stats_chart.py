"""Editors' /stats picture (SPEC 8.5): a PNG of the size we set, in both languages, for
any window and for a bot with nothing to show yet. Every render runs with warnings as
errors, so a glyph missing from the font fails the test instead of drawing a box."""

from __future__ import annotations

import ast
import struct
import subprocess
import sys
import warnings
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.i18n import Catalogue
from bot.topics.taxonomy import default_topics_path, load_taxonomy
from bot.ui.stats_chart import HEIGHT, WIDTH, _safe, render_chart
from bot.ui.stats_series import date_ticks, feed_series, topic_rows
from storage.snapshots import Snapshot

CATALOGUE = Catalogue.load()
TOPICS = load_taxonomy(default_topics_path()).topics  # 18, Cyrillic names in ru
FEEDS = [f"feed-{n:02d}" for n in range(20)]
LAST = date(2026, 11, 27)


def history(days: int, topics: int = len(TOPICS), feeds: int = len(FEEDS)) -> list[Snapshot]:
    return [
        Snapshot(
            day=LAST - timedelta(days=days - 1 - n),
            readers_total=100 + 3 * n,
            readers_active=80 + 2 * n,
            topics={topic.id: 10 + 7 * i + n for i, topic in enumerate(TOPICS[:topics])},
            sent=500 + 11 * n,
            failed={"bad_request": n % 3, "dropped": 1},
            articles={name: (i + n) % 9 + 1 for i, name in enumerate(FEEDS[:feeds])},
        )
        for n in range(days)
    ]


def render(snapshots: list[Snapshot], language: str = "en", days: int = 30, **names) -> bytes:
    by_id = {topic.id: topic.name(language) for topic in TOPICS} | names
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return render_chart(
            snapshots,
            t=CATALOGUE.translator(language),
            topic_name=lambda key: by_id.get(key, key),
            days=days,
        )


def assert_png(png: bytes) -> None:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (WIDTH, HEIGHT)


@pytest.mark.parametrize(("days", "language"), [(2, "en"), (30, "ru"), (90, "en"), (90, "ru")])
def test_renders_18_topics_and_20_feeds_for_any_window(days: int, language: str) -> None:
    assert_png(render(history(days), language, days))


def test_renders_a_bot_with_nothing_to_show() -> None:
    assert_png(render([], "ru"))
    assert_png(render([Snapshot(day=LAST)], "en", days=7))


def test_renders_one_feed_and_one_topic() -> None:
    assert_png(render(history(7, topics=1, feeds=1), "ru", days=7))


def test_names_the_font_cannot_draw_are_replaced_not_warned_about() -> None:
    """A feed named in Chinese, an emoji and a "$" pair (mathtext) in a topic name."""
    snapshots = [
        Snapshot(day=LAST, topics={"trade": 5, "odd": 3}, articles={"新华社": 4, "a $1 $2": 1})
    ]
    assert_png(render(snapshots, "ru", days=1, odd="🚀 Ракеты $x$"))
    # What the chart draws: "$" escaped (a pair would be typeset as maths, silently),
    # a glyph the font lacks as "?".
    assert _safe("🚀 Ракеты $x$") == r"? Ракеты \$x\$"
    assert _safe("新华社") == "???"


def test_topics_biggest_on_top_ties_by_name() -> None:
    last = Snapshot(day=LAST, topics={"a": 5, "b": 9, "c": 5, "long": 1})
    names = {"a": "Банки", "b": "Китай", "c": "Агро", "long": "Очень длинное имя " * 3}
    rows = topic_rows(last, names.__getitem__)
    assert [name for name, _ in rows[::-1]][:3] == ["Китай", "Агро", "Банки"]
    assert rows[0][0].endswith("…") and len(rows[0][0]) <= 34
    assert topic_rows(None, names.__getitem__) == []


def test_feeds_beyond_the_top_five_are_summed_as_other() -> None:
    snapshots = history(30)
    series = feed_series(snapshots, "Other feeds")
    assert len(series) == 6 and series[-1][0] == "Other feeds"
    totals = {name: sum(s.articles.get(name, 0) for s in snapshots) for name in FEEDS}
    shown = [label for label, _ in series[:5]]
    assert min(totals[name] for name in shown) >= max(
        n for name, n in totals.items() if name not in shown
    )
    for day, snapshot in enumerate(snapshots):
        assert sum(counts[day] for _, counts in series) == sum(snapshot.articles.values())


def test_five_feeds_or_fewer_have_no_other() -> None:
    assert sorted(label for label, _ in feed_series(history(3, feeds=5), "Other")) == FEEDS[:5]
    assert feed_series(history(3, feeds=0), "Other") == []


@pytest.mark.parametrize("days", [1, 2, 7, 30, 90, 400])
def test_date_ticks_are_few_and_end_on_the_last_day(days: int) -> None:
    first = LAST - timedelta(days=days - 1)
    ticks = date_ticks(first, LAST)
    assert ticks[-1] == LAST and ticks[0] >= first
    assert len(ticks) == days if days <= 7 else 4 <= len(ticks) <= 7


def test_importing_the_chart_module_does_not_import_matplotlib() -> None:
    """matplotlib costs a second or two and tens of megabytes: only the first /stats
    should pay for it."""
    code = "import sys, bot.ui.stats_chart; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_no_module_imports_the_chart_at_start_up() -> None:
    """Only inside a function (the /stats handler) may the chart or matplotlib be
    imported; importing the whole bot in a subprocess would take ten seconds here."""
    root = Path(__file__).resolve().parents[2]
    for path in [*root.glob("bot/**/*.py"), *root.glob("handlers/**/*.py")]:
        for name in _module_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            assert "stats_chart" not in name and not name.startswith("matplotlib"), path


def _module_level_imports(node: ast.AST) -> list[str]:
    names: list[str] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.Import):
            names += [alias.name for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
            base = "." * child.level + (child.module or "")
            names += [base, *(f"{base}.{alias.name}" for alias in child.names)]
        else:
            names += _module_level_imports(child)
    return names
