"""Editors' /stats picture (SPEC 8.5): 90 days of snapshots, 18 topics, 20 feeds.
Prints figures; asserts nothing (`make bench`).

Target: one render in at most 1 s. The first render also pays for importing matplotlib
(and, on a fresh machine, building its font cache), which a bot pays once, on the first
/stats; it is printed apart. Then ROUNDS renders give the median and the worst.

`--out PATH` writes the 30-day chart with Russian labels instead (the README's example).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date, timedelta
from pathlib import Path

from bot.i18n import Catalogue
from bot.topics.taxonomy import default_topics_path, load_taxonomy
from storage.snapshots import Snapshot

DAYS = 90
FEEDS = 20
ROUNDS = 9
LAST_DAY = date(2026, 11, 27)
FEED_NAMES = (
    "niann", "vremyan", "nta-pfo", "kommersant", "interfax", "rbc", "tass", "ria",
    "vedomosti", "pravdann", "nn.ru", "newsnn", "govnn", "minpromtorg", "exportcenter",
    "customs", "cbr", "rzd", "gazeta-nn", "progorod",
)  # fmt: skip


def snapshots(topic_ids: list[str], days: int = DAYS, seed: int = 16) -> list[Snapshot]:
    """A plausible bot: readers grow by a few a day, some go quiet, sends follow readers
    with a weekly rhythm, a few deliveries fail, feeds differ tenfold in volume."""
    rng = random.Random(seed)
    weights = {topic: rng.uniform(0.05, 0.6) for topic in topic_ids}
    volume = {name: max(1, round(40 / (rank + 1))) for rank, name in enumerate(FEED_NAMES)}
    total, out = 120, []
    for n in range(days):
        day = LAST_DAY - timedelta(days=days - 1 - n)
        new = rng.randint(0, 9)
        total += new
        active = round(total * 0.82)
        weekend = day.weekday() >= 5
        articles = {
            name: rng.randint(0, round(v * (0.4 if weekend else 1.2)))
            for name, v in list(volume.items())[:FEEDS]
        }
        sent = round(sum(articles.values()) * active * 0.05)
        out.append(
            Snapshot(
                day=day,
                readers_total=total,
                readers_active=active,
                readers_paused=round(total * 0.06),
                readers_blocked=total - active - round(total * 0.06),
                readers_new=new,
                topics={topic: round(active * w) for topic, w in weights.items()},
                sent=sent,
                failed={
                    "bad_request": rng.randint(0, 3),
                    "gave_up": rng.choice((0, 0, 0, 12)),
                    "dropped": rng.randint(0, 2),
                },
                articles={name: count for name, count in articles.items() if count},
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the 30-day chart in Russian here")
    args = parser.parse_args()

    taxonomy = load_taxonomy(default_topics_path())
    catalogue = Catalogue.load()
    ids = list(taxonomy.ids)
    names = {topic.id: topic.names for topic in taxonomy.topics}
    history = snapshots(ids)

    def render(language: str, days: int) -> bytes:
        from bot.ui.stats_chart import render_chart

        return render_chart(
            history[-days:],
            t=catalogue.translator(language),
            topic_name=lambda key: names[key][language],
            days=days,
        )

    if args.out:
        args.out.write_bytes(render("ru", 30))
        print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
        return

    start = time.perf_counter()
    png = render("en", DAYS)
    first = time.perf_counter() - start
    times = []
    for n in range(ROUNDS):
        start = time.perf_counter()
        render("ru" if n % 2 else "en", DAYS)
        times.append(time.perf_counter() - start)
    size = len(png) / 1024
    print(f"stats chart: {DAYS} days, {len(ids)} topics, {FEEDS} feeds, {size:.0f} KiB PNG")
    print(f"first render (imports matplotlib): {first:.2f} s")
    print(
        f"render x{ROUNDS}: median {statistics.median(times):.3f} s,"
        f" worst {max(times):.3f} s (target <= 1 s)"
    )


if __name__ == "__main__":
    main()
