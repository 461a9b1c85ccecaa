"""PhraseIndex and Matcher (SPEC 5.2, 4.3): consecutive-token phrases, fields, exclusions."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.topics.matcher import Matcher, PhraseIndex
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import default_topics_path, load_taxonomy

SMALL_TAXONOMY = """
[[topics]]
id = "events"
emoji = "🎤"
name = { ru = "События", en = "Events" }
keywords = { ru = ["конференция", "форум"], en = ["conference"] }
exclude = { ru = ["пресс-конференция"], en = ["press conference"] }

[[topics]]
id = "trade"
emoji = "🌍"
name = { ru = "Торговля", en = "Trade" }
keywords = { ru = ["внешняя торговля", "экспорт"], en = ["foreign trade"] }
"""


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer()


@pytest.fixture(scope="module")
def shipped(normalizer: Normalizer) -> Matcher:
    return Matcher.from_taxonomy(load_taxonomy(default_topics_path()), normalizer)


@pytest.fixture
def small(normalizer: Normalizer, tmp_path: Path) -> Matcher:
    path = tmp_path / "topics.toml"
    path.write_text(SMALL_TAXONOMY, encoding="utf-8")
    return Matcher.from_taxonomy(load_taxonomy(path), normalizer)


def test_phrase_matches_only_consecutive_tokens(normalizer: Normalizer) -> None:
    index: PhraseIndex[str] = PhraseIndex(normalizer)
    index.add("trade", "внешняя торговля")
    assert index.find(normalizer.tokens("Рост внешней торговли региона")) == {"trade"}
    assert index.find(normalizer.tokens("внешней и внутренней торговли")) == set()
    assert index.find(normalizer.tokens("торговля внешняя")) == set()


def test_phrase_at_the_end_of_the_text(normalizer: Normalizer) -> None:
    index: PhraseIndex[int] = PhraseIndex(normalizer)
    index.add(7, "Нижний Новгород")
    assert index.find(normalizer.tokens("Форум в Нижнем")) == set()
    assert index.find(normalizer.tokens("Форум в Нижнем Новгороде")) == {7}


def test_reader_keywords_share_the_normalisation(normalizer: Normalizer) -> None:
    index: PhraseIndex[int] = PhraseIndex(normalizer)
    index.add(1, "Куба")
    index.add(2, "T-Hub")
    index.add(3, "Дзержинск")
    index.add(3, "Dzerzhinsk")
    tokens = normalizer.tokens("В Дзержинске обсудили поставки на Кубу через T-Hub")
    assert index.find(tokens) == {1, 2, 3}
    assert index.find(normalizer.tokens("Dzerzhinsk chemical cluster")) == {3}
    assert index.find(normalizer.tokens("10 кубометров")) == set()


def test_discard_forgets_every_phrase_of_a_key(normalizer: Normalizer) -> None:
    index: PhraseIndex[int] = PhraseIndex(normalizer)
    index.add(1, "экспорт")
    index.add(2, "экспорт")
    index.add(2, "импорт")
    index.discard(2)
    index.discard(99)
    assert 2 not in index and len(index) == 1
    assert index.find(normalizer.tokens("экспорт и импорт")) == {1}


def test_adding_a_phrase_twice_is_harmless(normalizer: Normalizer) -> None:
    index: PhraseIndex[str] = PhraseIndex(normalizer)
    index.add("k", "Кубе")
    index.add("k", "Куба")
    assert index.spans(normalizer.tokens("Куба")) == [("k", 0, 1)]


def test_phrase_without_words_is_refused(normalizer: Normalizer) -> None:
    index: PhraseIndex[str] = PhraseIndex(normalizer)
    with pytest.raises(ValueError, match="no words"):
        index.add("k", " «—» ")


def test_phrase_does_not_span_two_fields(normalizer: Normalizer) -> None:
    index: PhraseIndex[str] = PhraseIndex(normalizer)
    index.add("trade", "внешняя торговля")
    fields = [normalizer.tokens("Итоги: внешняя"), normalizer.tokens("торговля растёт")]
    assert index.find_all(fields) == set()


def test_spans_report_every_occurrence(normalizer: Normalizer) -> None:
    index: PhraseIndex[str] = PhraseIndex(normalizer)
    index.add("cuba", "Куба")
    assert index.spans(normalizer.tokens("Куба и снова Куба")) == [("cuba", 0, 1), ("cuba", 3, 4)]


def test_title_summary_and_categories_are_all_read(small: Matcher) -> None:
    assert small.match_topics("Итоги года", "", ["Внешняя торговля"]) == {"trade"}
    assert small.match_topics("Итоги года", "Экспорт вырос") == {"trade"}
    assert small.match_topics("Итоги года", "Ничего нового") == frozenset()


def test_exclusion_cancels_only_the_match_inside_it(small: Matcher) -> None:
    assert small.match_topics("Губернатор дал пресс-конференцию", "") == frozenset()
    assert small.match_topics("Press conference on exports", "") == frozenset()
    assert small.match_topics("На пресс-конференции рассказали о форуме", "") == {"events"}
    assert small.match_topics("Пресс-конференция", "Конференция пройдёт в мае") == {"events"}


def test_article_tokens_can_be_reused_for_reader_keywords(
    small: Matcher, normalizer: Normalizer
) -> None:
    fields = small.article_tokens("Экспорт на Кубу", "Поставки выросли")
    readers: PhraseIndex[int] = PhraseIndex(normalizer)
    readers.add(42, "Куба")
    assert small.match_tokens(fields) == {"trade"}
    assert readers.find_all(fields) == {42}


@pytest.mark.parametrize(
    ("title", "wanted", "unwanted"),
    [
        ("Группа ГАЗ увеличила выпуск «ГАЗелей»", "machinery", "energy"),
        ("Цена на газ для промышленных потребителей вырастет", "energy", "machinery"),
        ("Нижегородские IT-компании выходят на рынок Индии", "it", None),
        ("Переговоры с Китаем о поставках зерна", "china", None),
        ("Индийские фармкомпании приедут в Дзержинск", "india", None),
        ("Студенты из Индианы выиграли хакатон", "education", "india"),
        ("It said exports rose by a quarter", "trade", "it"),
        ("Министр рассказал на пресс-конференции об урожае", "agro", "events"),
    ],
)
def test_shipped_taxonomy_on_spec_cases(
    shipped: Matcher, title: str, wanted: str, unwanted: str | None
) -> None:
    topics = shipped.match_topics(title, "")
    assert wanted in topics
    assert unwanted not in topics


def test_every_shipped_keyword_matches_its_own_text(shipped: Matcher) -> None:
    """A keyword an editor writes must at least match itself written in an article."""
    unmatched = [
        (topic.id, phrase)
        for topic in load_taxonomy(default_topics_path()).topics
        for phrases in topic.keywords.values()
        for phrase in phrases
        if topic.id not in shipped.match_topics(phrase, "")
    ]
    assert unmatched == []
