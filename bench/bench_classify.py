"""Topic classification throughput (SPEC 5.2): the labelled sets
(tests/data/topics-*.jsonl, about 450 articles) repeated to 10,000 articles, on one core.
Prints figures; asserts nothing (`make bench`).

"Cold" starts from a fresh Normalizer, so it pays for every pymorphy3 parse of the first
pass over the labelled articles; "steady" repeats the run on the warm per-word cache,
which is what a bot polling feeds all day sees.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pymorphy3

from bot.topics.matcher import Matcher
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import default_topics_path, load_taxonomy

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
N_ARTICLES = 10_000
STEADY_ROUNDS = 3


def _articles() -> list[tuple[str, str]]:
    rows = [
        json.loads(line)
        for path in sorted(DATA.glob("topics-*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    pairs = [(r["title"], r["summary"]) for r in rows if r]
    return [pairs[i % len(pairs)] for i in range(N_ARTICLES)]


def _run(matcher: Matcher, articles: list[tuple[str, str]]) -> tuple[float, int]:
    assigned = 0
    start = time.perf_counter()
    for title, summary in articles:
        assigned += len(matcher.match_topics(title, summary))
    return time.perf_counter() - start, assigned


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    articles = _articles()
    taxonomy = load_taxonomy(default_topics_path())

    start = time.perf_counter()
    morph = pymorphy3.MorphAnalyzer()
    morph_s = time.perf_counter() - start
    start = time.perf_counter()
    matcher = Matcher.from_taxonomy(taxonomy, Normalizer(morph))
    build_s = time.perf_counter() - start
    print(f"MorphAnalyzer load: {morph_s * 1000:.0f} ms; matcher build: {build_s * 1000:.0f} ms")

    cold_s, assigned = _run(matcher, articles)
    print(
        f"cold (fresh Normalizer): {N_ARTICLES} articles in {cold_s:.3f} s = "
        f"{N_ARTICLES / cold_s:,.0f} articles/s ({assigned} topic assignments)"
    )
    best = min(_run(matcher, articles)[0] for _ in range(STEADY_ROUNDS))
    print(
        f"steady (warm cache, best of {STEADY_ROUNDS}): {N_ARTICLES} articles in {best:.3f} s"
        f" = {N_ARTICLES / best:,.0f} articles/s"
    )


if __name__ == "__main__":
    main()
