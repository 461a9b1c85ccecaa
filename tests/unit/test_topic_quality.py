"""SPEC 5.3 quality bar of the shipped taxonomy on the labelled dev set (SPEC 9).

Run with `pytest -s` to see the figures; a failure carries them and the articles at fault.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.topics.matcher import Matcher
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import default_topics_path, load_taxonomy

DEV_SET = Path(__file__).resolve().parent.parent / "data" / "topics-dev.jsonl"
MIN_RECALL = 0.95
MAX_FALSE_RATE = 0.02


def test_dev_set_recall_and_false_assignments() -> None:
    matcher = Matcher.from_taxonomy(load_taxonomy(default_topics_path()), Normalizer())
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines()]
    must = found = must_not = wrong = 0
    faults: list[str] = []
    for row in rows:
        topics = matcher.match_topics(row["title"], row["summary"])
        missed = [t for t in row["must"] if t not in topics]
        assigned = [t for t in row["must_not"] if t in topics]
        must += len(row["must"])
        found += len(row["must"]) - len(missed)
        must_not += len(row["must_not"])
        wrong += len(assigned)
        if missed or assigned:
            faults.append(f"{row['id']} missed {missed} wrongly {assigned}: {row['title']}")
    recall = found / must
    false_rate = wrong / must_not
    figures = (
        f"recall {recall:.3f} ({found}/{must}), "
        f"must_not assigned {false_rate:.2%} ({wrong}/{must_not}), {len(rows)} articles"
    )
    print(f"\ntopic quality on {DEV_SET.name}: {figures}")
    detail = figures + "\n" + "\n".join(faults)
    assert recall >= MIN_RECALL, detail
    assert false_rate <= MAX_FALSE_RATE, detail
