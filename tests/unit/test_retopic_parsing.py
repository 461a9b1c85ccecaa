"""/retopic parsing and the labelled export of corrections (SPEC 5.4), pure parts."""

from __future__ import annotations

import json

import pytest

from bot.topic_review import Changes, RetopicProblem, RetopicRejected, labelled_line, parse_changes
from bot.topics.taxonomy import default_topics_path, load_taxonomy
from storage.articles import Article
from storage.corrections import Correction, _net_removed

TAXONOMY = load_taxonomy(default_topics_path())


@pytest.mark.parametrize(
    ("text", "add", "remove"),
    [
        ("+trade -education", ("trade",), ("education",)),
        ("+trade,+china", ("trade", "china"), ()),
        ("−trade –china —india", (), ("trade", "china", "india")),  # typographic minuses
        ("+TRADE +Китай", ("trade", "china"), ()),  # ids and one-word names, any case
        ("+trade +trade", ("trade",), ()),
    ],
)
def test_changes_are_parsed(text: str, add: tuple, remove: tuple) -> None:
    assert parse_changes(text, TAXONOMY) == Changes(add, remove)


@pytest.mark.parametrize(
    ("text", "problem", "detail"),
    [
        (None, RetopicProblem.USAGE, ""),
        ("", RetopicProblem.USAGE, ""),
        (" , ", RetopicProblem.USAGE, ""),
        ("+" + "x" * 600, RetopicProblem.USAGE, ""),
        ("trade", RetopicProblem.NOT_A_CHANGE, "trade"),
        ("+", RetopicProblem.NOT_A_CHANGE, "+"),
        ("+nope", RetopicProblem.UNKNOWN_TOPIC, "nope"),
        ("+trade -trade", RetopicProblem.BOTH_WAYS, "trade"),
    ],
)
def test_bad_changes_are_refused(text, problem, detail) -> None:
    assert parse_changes(text, TAXONOMY) == RetopicRejected(problem, detail)


def test_a_labelled_line_has_the_format_of_the_labelled_sets() -> None:
    article = Article(7, "https://x.example/7", "Экспорт вырос", "Итоги", None, "t", (), None)
    row = json.loads(labelled_line(article, ("trade",), ("education",)))
    assert row == {
        "id": "article-7",
        "lang": "ru",
        "title": "Экспорт вырос",
        "summary": "Итоги",
        "must": ["trade"],
        "must_not": ["education"],
        "source": "https://x.example/7",
    }
    english = Article(8, None, "Exports rose", "", None, "t", (), None)
    assert json.loads(labelled_line(english, (), ()))["lang"] == "en"


def correction(added=(), removed=(), after=()) -> Correction:
    return Correction(1, 5, tuple(added), tuple(removed), (), tuple(after), "t")


def test_net_removed_forgets_topics_added_back() -> None:
    history = [
        correction(removed=["trade", "it"], after=["agro"]),
        correction(added=["trade"], after=["agro", "trade"]),
    ]
    assert _net_removed(history) == ("it",)
