"""`python -m bot eval-topics` (SPEC 5.3): figures, per-topic lines, misses and false topics
with their words, exit codes, TOPICS_FILE, and bad labelled files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.__main__ import run

TAXONOMY = """
[[topics]]
id = "trade"
name = { ru = "Торговля", en = "Trade" }
keywords = { ru = ["экспорт"] }

[[topics]]
id = "events"
name = { ru = "События", en = "Events" }
keywords = { ru = ["форум"] }
"""


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def article(id_: str, title: str, must: list[str], must_not: list[str]) -> dict:
    return {"id": id_, "title": title, "summary": "", "must": must, "must_not": must_not}


@pytest.fixture
def taxonomy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "topics.toml"
    path.write_text(TAXONOMY, encoding="utf-8")
    monkeypatch.setenv("TOPICS_FILE", str(path))
    return path


def test_a_file_above_the_bar_exits_0(taxonomy, tmp_path, capsys) -> None:
    good = write_jsonl(
        tmp_path / "good.jsonl",
        [article("g1", "Экспорт вырос", ["trade"], ["events"])],
    )
    assert run(["eval-topics", str(good)]) == 0
    out = capsys.readouterr().out
    assert str(taxonomy) in out
    assert "recall 1.000 (1/1), false topics 0.00% (0/1): ok" in out


def test_misses_and_false_topics_are_named_with_their_words(taxonomy, tmp_path, capsys) -> None:
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            article("b1", "Поставки за рубеж выросли", ["trade"], []),
            article("b2", "На форуме обсудили экспорт", ["events"], ["trade"]),
        ],
    )
    assert run(["eval-topics", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "recall 0.500 (1/2), false topics 100.00% (1/1): BELOW THE BAR" in out
    assert "missed trade in b1: no phrase or rule found it (got: no topic)" in out
    assert "false topic trade in b2: «экспорт»" in out
    assert "  trade                0.000   0.000  (0/1/1)" in out


def test_the_bar_can_be_set(taxonomy, tmp_path, capsys) -> None:
    rows = [article(f"r{n}", "Экспорт", ["trade"], []) for n in range(19)]
    rows.append(article("r19", "Ничего", ["trade"], []))
    path = write_jsonl(tmp_path / "r.jsonl", rows)
    assert run(["eval-topics", str(path)]) == 0  # 0.95 meets the SPEC bar
    assert run(["eval-topics", str(path), "--min-recall", "0.96"]) == 1
    capsys.readouterr()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "bad.jsonl:1: not JSON"),
        ('{"id": "x", "title": 5, "summary": ""}', "id, title and summary must be strings"),
        ('{"id": "x", "title": "t", "summary": "", "must": ["nope"]}', "unknown topic nope"),
        ('{"id": "x", "title": "t", "summary": "", "must": "trade"}', "must be lists"),
    ],
)
def test_a_bad_labelled_file_exits_2_naming_the_line(
    taxonomy, tmp_path, capsys, content, message
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    assert run(["eval-topics", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_file_and_a_broken_taxonomy_exit_2(taxonomy, tmp_path, capsys) -> None:
    assert run(["eval-topics", str(tmp_path / "absent.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    taxonomy.write_text("[[topics]]\nid = 5\n", encoding="utf-8")
    good = write_jsonl(tmp_path / "g.jsonl", [article("g", "Экспорт", ["trade"], [])])
    assert run(["eval-topics", str(good)]) == 2
    assert "TOPICS_FILE" in capsys.readouterr().err
