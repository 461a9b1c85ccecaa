"""Topic classification throughput (SPEC 5.2): the labelled sets
(tests/data/topics-*.jsonl, about 450 articles) repeated to 10,000 articles, on one core.
Prints figures; asserts nothing (`make bench`).

"Cold" starts from a fresh Normalizer, so it pays for every pymorphy3 parse of the first
pass over the labelled articles; "steady" repeats the run on the warm per-word cache,
which is what a bot polling feeds all day sees. Each is the best of three runs (shared
machines are noisy), and the cold figure is set against the same topics' keywords
without gazetteers and rules, measured in the same run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pymorphy3

from bot.topics.matcher import Matcher
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import Taxonomy, default_topics_path, load_taxonomy

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
N_ARTICLES = 10_000
ROUNDS = 3


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


def _cold(taxonomy: Taxonomy, morph: pymorphy3.MorphAnalyzer, articles) -> tuple[float, int]:
    """One cold run: a fresh Normalizer (empty per-word cache) and matcher."""
    return _run(Matcher.from_taxonomy(taxonomy, Normalizer(morph)), articles)


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    articles = _articles()
    taxonomy = load_taxonomy(default_topics_path())
    # The same topics' keywords and exclusions without gazetteers and rules: what
    # classification cost before issue 12, measured in the same run for a ratio.
    keywords_only = Taxonomy(topics=taxonomy.topics)

    start = time.perf_counter()
    morph = pymorphy3.MorphAnalyzer()
    morph_s = time.perf_counter() - start
    start = time.perf_counter()
    matcher = Matcher.from_taxonomy(taxonomy, Normalizer(morph))
    build_s = time.perf_counter() - start
    print(f"MorphAnalyzer load: {morph_s * 1000:.0f} ms; matcher build: {build_s * 1000:.0f} ms")

    cold = []
    baseline = []
    assigned = 0
    for _ in range(ROUNDS):  # interleaved, so a noisy moment hits both alike
        seconds, assigned = _cold(taxonomy, morph, articles)
        cold.append(seconds)
        baseline.append(_cold(keywords_only, morph, articles)[0])
    print(
        f"cold (fresh Normalizer, best of {ROUNDS}): {N_ARTICLES} articles in {min(cold):.3f} s"
        f" = {N_ARTICLES / min(cold):,.0f} articles/s ({assigned} topic assignments);"
        f" keywords only: {N_ARTICLES / min(baseline):,.0f} articles/s,"
        f" ratio {min(baseline) / min(cold):.2f}"
    )
    best = min(_run(matcher, articles)[0] for _ in range(ROUNDS))
    print(
        f"steady (warm cache, best of {ROUNDS}): {N_ARTICLES} articles in {best:.3f} s"
        f" = {N_ARTICLES / best:,.0f} articles/s"
    )


if __name__ == "__main__":
    main()
