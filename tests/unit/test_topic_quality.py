"""SPEC 5.3 quality bar of the shipped taxonomy on every labelled file of tests/data, run
through `python -m bot eval-topics` as a newsroom would run it.

The bar here is tighter than the SPEC's 2% false topics (1.5%), so that news the taxonomy
was not tuned on keeps a margin. Run with `pytest -s` to see the report; a failure carries
it, with every miss and false topic and the words behind it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import run
from bot.topics.taxonomy import default_topics_path

DATA = Path(__file__).resolve().parent.parent / "data"
LABELLED = sorted(DATA.glob("topics-*.jsonl"))


@pytest.fixture(autouse=True)
def shipped_taxonomy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set, not unset: a developer's .env (read by the CLI) must not swap the taxonomy.
    monkeypatch.setenv("TOPICS_FILE", str(default_topics_path()))


def test_every_labelled_file_is_above_the_bar(capsys: pytest.CaptureFixture[str]) -> None:
    assert {p.name for p in LABELLED} >= {
        "topics-dev.jsonl",
        "topics-news-a.jsonl",
        "topics-news-b.jsonl",
    }
    code = run(["eval-topics", *map(str, LABELLED), "--min-recall", "0.95", "--max-false", "0.015"])
    report = capsys.readouterr().out
    print(report)
    assert code == 0, report
    assert report.count(": ok") == len(LABELLED), report
