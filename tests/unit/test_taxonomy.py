"""Taxonomy loading (SPEC 5.1) and finding a topic by what a reader typed (SPEC 4.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.topics.taxonomy import (
    MAX_HASHTAG,
    Taxonomy,
    TaxonomyError,
    default_topics_path,
    is_hashtag,
    load_taxonomy,
)

SHIPPED_IDS = (
    "trade",
    "china",
    "india",
    "localization",
    "machinery",
    "chemicals",
    "light_industry",
    "it",
    "pharma",
    "logistics",
    "investment",
    "events",
    "education",
    "tourism",
    "agro",
    "energy",
    "smb",
    "finance",
)

GOOD_TOPIC = """
[[topics]]
id = "trade"
emoji = "🌍"
[topics.name]
ru = "Внешняя торговля"
en = "Foreign trade"
[topics.keywords]
ru = ["экспорт"]
en = ["export"]
"""


@pytest.fixture(scope="module")
def shipped() -> Taxonomy:
    return load_taxonomy(default_topics_path())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topics.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_taxonomy_has_the_fixed_ids(shipped: Taxonomy) -> None:
    assert shipped.ids == SHIPPED_IDS


def test_shipped_topics_have_names_and_keywords_in_both_languages(shipped: Taxonomy) -> None:
    for topic in shipped.topics:
        assert topic.emoji
        assert topic.names["ru"] and topic.names["en"]
        assert topic.keywords["ru"] and topic.keywords["en"], topic.id


def test_get(shipped: Taxonomy) -> None:
    china = shipped.get("china")
    assert china is not None and china.name("en") == "China"
    assert shipped.get("cuba") is None


@pytest.mark.parametrize(
    ("text", "topic_id"),
    [
        ("it", "it"),
        ("IT", "it"),
        ("light_industry", "light_industry"),
        ("Китай", "china"),
        ("  china ", "china"),
        ("CHINA", "china"),
        ("Лёгкая промышленность", "light_industry"),
        ("легкая   промышленность", "light_industry"),
        ("Light industry", "light_industry"),
        ("Foreign trade & exports", "trade"),
        ("энергетика", "energy"),
    ],
)
def test_find_by_id_or_name_in_either_language(shipped: Taxonomy, text: str, topic_id: str) -> None:
    found = shipped.find(text)
    assert found is not None and found.id == topic_id


@pytest.mark.parametrize("text", ["", "   ", "Куба", "trade_", "Китай и Индия"])
def test_find_unknown_is_none(shipped: Taxonomy, text: str) -> None:
    assert shipped.find(text) is None


def test_name_falls_back_to_english(shipped: Taxonomy) -> None:
    india = shipped.get("india")
    assert india is not None
    assert india.name("ru") == "Индия"
    assert india.name("de") == "India"


def test_exclude_is_optional(tmp_path: Path) -> None:
    topic = load_taxonomy(write(tmp_path, GOOD_TOPIC)).topics[0]
    assert dict(topic.exclude) == {}
    assert topic.keywords["ru"] == ("экспорт",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD_TOPIC + GOOD_TOPIC, "duplicate id 'trade'"),
        (GOOD_TOPIC.replace('"trade"', '"Trade"'), "id 'Trade' must be 1-32"),
        (GOOD_TOPIC.replace('"trade"', '"trade-2"'), "id 'trade-2' must be 1-32"),
        (GOOD_TOPIC.replace('id = "trade"\n', ""), "id None must be 1-32"),
        (GOOD_TOPIC.replace('"trade"', '"' + "t" * 33 + '"'), "must be 1-32"),
        (GOOD_TOPIC.replace('"trade"', '"__"'), "id '__' must be 1-32 of a-z and _, with a letter"),
        (GOOD_TOPIC.replace('en = "Foreign trade"\n', ""), "(id 'trade'): name.en is missing"),
        (GOOD_TOPIC.replace('ru = "Внешняя торговля"', 'ru = " "'), "name.ru is missing"),
        (GOOD_TOPIC.replace('["экспорт"]', '"экспорт"'), "keywords.ru must be a list"),
        (GOOD_TOPIC.replace('["export"]', '["export", ""]'), "keywords.en must be a list"),
        (
            GOOD_TOPIC.replace('ru = ["экспорт"]\nen = ["export"]', "ru = []\nen = []"),
            "at least one keyword",
        ),
        (
            GOOD_TOPIC.replace('emoji = "🌍"\n', 'emoji = "🌍"\nexclude = "x"\n'),
            "[exclude] must be a table",
        ),
        (GOOD_TOPIC + 'exclude = ["x"]\n', "keywords.exclude: unknown language"),
        ("title = 'no topics'\n", "no [[topics]] entries"),
        ("[[topics]\n", "invalid TOML"),
    ],
)
def test_invalid_file_names_file_and_topic(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TaxonomyError) as raised:
        load_taxonomy(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read taxonomy"):
        load_taxonomy(tmp_path / "absent.toml")


def test_taxonomy_error_is_a_value_error() -> None:
    assert issubclass(TaxonomyError, ValueError)


# ------------------------------------------------------------------ hashtags


def with_hashtag(table: str) -> str:
    return GOOD_TOPIC.replace("[topics.keywords]", f"[topics.hashtag]\n{table}\n[topics.keywords]")


def test_shipped_topics_have_a_hashtag_in_both_languages(shipped: Taxonomy) -> None:
    for topic in shipped.topics:
        for lang in ("ru", "en"):
            assert is_hashtag(topic.hashtags[lang]), (topic.id, lang)
    assert shipped.hashtag("china", "ru") == "Китай"
    assert shipped.hashtag("trade", "en") == "export"


@pytest.mark.parametrize(
    "tag", ["экспорт", "Export", "B2B", "ИТ_2030", "Ёлки", "_x", "中国", "a" * MAX_HASHTAG]
)
def test_good_hashtags_load(tmp_path: Path, tag: str) -> None:
    topic = load_taxonomy(write(tmp_path, with_hashtag(f'ru = "{tag}"\nen = "x"'))).topics[0]
    assert topic.hashtag("ru") == tag
    assert is_hashtag(tag)


def test_a_leading_hash_in_the_file_is_not_part_of_the_tag(tmp_path: Path) -> None:
    topic = load_taxonomy(write(tmp_path, with_hashtag('ru = "#экспорт"'))).topics[0]
    assert topic.hashtag("ru") == "экспорт"


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ('"2025"', "digits only: Telegram leaves it plain text"),
        ('"_2025"', "no letter"),
        ('"экспорт!"', "punctuation"),
        ('"foreign-trade"', "a hyphen ends the tag"),
        ('"внешняя торговля"', "a space"),
        ('"экспорт🌍"', "an emoji"),
        ('"🌍"', "an emoji alone"),
        ('""', "empty"),
        ('"#"', "a bare hash"),
        ('"²x"', "a superscript digit is not a decimal digit"),
        (f'"{"a" * (MAX_HASHTAG + 1)}"', "too long"),
        ("5", "not a string"),
    ],
)
def test_bad_hashtag_is_refused_naming_the_topic(tmp_path: Path, tag: str, why: str) -> None:
    path = write(tmp_path, with_hashtag(f"ru = {tag}"))
    with pytest.raises(TaxonomyError) as raised:
        load_taxonomy(path)
    message = str(raised.value)
    assert str(path) in message and "(id 'trade')" in message, why
    assert "hashtag.ru" in message and "not a Telegram hashtag" in message, why


def test_hashtag_table_problems(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match=r"hashtag\.de: unknown language"):
        load_taxonomy(write(tmp_path, with_hashtag('de = "Export"')))
    bad_table = GOOD_TOPIC.replace('emoji = "🌍"\n', 'emoji = "🌍"\nhashtag = "export"\n')
    with pytest.raises(TaxonomyError, match=r"\[hashtag\] must be a table"):
        load_taxonomy(write(tmp_path, bad_table))


def test_one_hashtag_names_one_topic(tmp_path: Path) -> None:
    """`/post #tag` must know which topic is meant."""
    other = GOOD_TOPIC.replace('"trade"', '"china"')
    text = with_hashtag('ru = "Китай"') + other.replace(
        "[topics.keywords]", '[topics.hashtag]\nen = "КИТАЙ"\n[topics.keywords]'
    )
    with pytest.raises(TaxonomyError, match="hashtag 'китай' already names topic 'trade'"):
        load_taxonomy(write(tmp_path, text))
    clash_with_id = with_hashtag('en = "China"') + other
    with pytest.raises(TaxonomyError, match="already names topic 'trade'"):
        load_taxonomy(write(tmp_path, clash_with_id))


def test_missing_hashtags_fall_back_to_the_id(tmp_path: Path) -> None:
    no_table = load_taxonomy(write(tmp_path, GOOD_TOPIC))
    assert no_table.topics[0].hashtag("ru") == no_table.topics[0].hashtag("en") == "trade"
    only_ru = load_taxonomy(write(tmp_path, with_hashtag('ru = "экспорт"')))
    assert only_ru.hashtag("trade", "ru") == "экспорт"
    assert only_ru.hashtag("trade", "en") == "trade"
    assert only_ru.hashtag("trade", "de") == "trade"
    assert only_ru.hashtag("removed_topic", "ru") == "removed_topic"


@pytest.mark.parametrize(
    ("tag", "topic_id"),
    [
        ("china", "china"),
        ("#Китай", "china"),
        ("КИТАЙ", "china"),
        ("экспорт", "trade"),
        ("Export", "trade"),
        ("ит", "it"),
        ("кит", None),
        ("cuba", None),
    ],
)
def test_hashtag_topic_takes_the_id_or_a_tag(
    shipped: Taxonomy, tag: str, topic_id: str | None
) -> None:
    assert shipped.hashtag_topic(tag) == topic_id
