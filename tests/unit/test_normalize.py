"""Normalisation (SPEC 5.2): every required case, and the decisions normalize.py documents."""

from __future__ import annotations

import pymorphy3
import pytest

from bot.topics.normalize import Case, Normalizer


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer()


def matches(normalizer: Normalizer, keyword: str, text: str) -> bool:
    """Whether the keyword's words occur as consecutive tokens of text."""
    words = normalizer.phrase(keyword)
    tokens = normalizer.tokens(text)
    return any(
        all(w.matches(t) for w, t in zip(words, tokens[i : i + len(words)], strict=True))
        for i in range(len(tokens) - len(words) + 1)
    )


@pytest.mark.parametrize("text", ["Товарооборот с Кубой вырос", "Сервисный центр на Кубе"])
def test_cuba_matches_its_case_forms(normalizer: Normalizer, text: str) -> None:
    assert matches(normalizer, "Куба", text)


def test_cuba_does_not_match_cubic_metres(normalizer: Normalizer) -> None:
    assert not matches(normalizer, "Куба", "Потребление выросло на 12 млн кубометров газа")


@pytest.mark.parametrize("text", ["Экспорт зерна в страны Китая", "Переговоры с Китаем"])
def test_china_matches_its_case_forms(normalizer: Normalizer, text: str) -> None:
    assert matches(normalizer, "Китай", text)


@pytest.mark.parametrize(
    "text",
    ["Группа ГАЗ увеличила выпуск", "На ГАЗе запустили линию", "Дилер ГАЗа на Кубе"],
)
def test_gaz_the_car_maker_matches_capitals_with_case_endings(
    normalizer: Normalizer, text: str
) -> None:
    assert matches(normalizer, "ГАЗ", text)


@pytest.mark.parametrize("text", ["Поставки газа выросли", "Цена на газ"])
def test_gaz_the_car_maker_does_not_match_the_fuel(normalizer: Normalizer, text: str) -> None:
    assert not matches(normalizer, "ГАЗ", text)


def test_gas_the_fuel_does_not_match_the_car_maker(normalizer: Normalizer) -> None:
    assert matches(normalizer, "газ", "Поставки газа выросли")
    assert not matches(normalizer, "газ", "Группа ГАЗ увеличила выпуск")


@pytest.mark.parametrize("text", ["Exports rose by 14%", "Companies exporting to Asia"])
def test_english_export_matches_inflections(normalizer: Normalizer, text: str) -> None:
    assert matches(normalizer, "export", text)


@pytest.mark.parametrize("text", ["It plans to open a school", "and it was cold"])
def test_it_the_pronoun_is_not_it_the_industry(normalizer: Normalizer, text: str) -> None:
    assert not matches(normalizer, "IT", text)


def test_it_matches_capitals_and_hyphenated_compounds(normalizer: Normalizer) -> None:
    assert matches(normalizer, "IT", "Nizhny Novgorod IT sector grew")
    assert matches(normalizer, "IT", "Нижегородские IT-компании")
    assert matches(normalizer, "ИТ", "Строительство ИТ-кампуса")
    assert not matches(normalizer, "IT", "it is")


def test_hyphen_splits_words_so_phrases_and_parts_match(normalizer: Normalizer) -> None:
    assert [t.text for t in normalizer.tokens("T-Hub")] == ["T", "Hub"]
    assert matches(normalizer, "T-Hub", "на площадке технопарка T-Hub")
    assert matches(normalizer, "T Hub", "T-Hub")
    assert matches(normalizer, "экспортёр", "практики из компаний-экспортёров")
    assert matches(normalizer, "айти", "айти-компании региона")


def test_yo_and_ye_are_one_letter(normalizer: Normalizer) -> None:
    assert matches(normalizer, "экспортёр", "экспортеров региона")
    assert matches(normalizer, "экспортер", "экспортёров региона")
    assert matches(normalizer, "заём", "сумма займа")


def test_rare_reading_of_a_text_word_is_dropped(normalizer: Normalizer) -> None:
    """'стали' is almost always 'became', not 'steel' (pymorphy: 0.98 against 0.02).

    The price is that "сталь" misses "выпуск стали"; a metals keyword list uses
    "металлургия", "сталелитейный" and the like instead."""
    assert not matches(normalizer, "сталь", "Компании стали больше экспортировать")
    assert matches(normalizer, "сталь", "Сталь подорожала")


def test_capitals_flag(normalizer: Normalizer) -> None:
    tokens = normalizer.tokens("ГАЗ и газ, ГАЗа, T-Hub, IT")
    assert [(t.text, t.caps) for t in tokens] == [
        ("ГАЗ", True),
        ("и", False),
        ("газ", False),
        ("ГАЗа", True),
        ("T", False),
        ("Hub", False),
        ("IT", True),
    ]


def test_lower_case_abbreviation_matches_capitals(normalizer: Normalizer) -> None:
    assert normalizer.phrase("вуз")[0].case is Case.ANY
    assert normalizer.phrase("газ")[0].case is Case.NOT_CAPS
    assert normalizer.phrase("ГАЗ")[0].case is Case.CAPS
    assert matches(normalizer, "вуз", "Студенты ВУЗов")
    assert matches(normalizer, "мсп", "Поддержка МСП")


def test_shouted_headline_is_read_as_lower_case(normalizer: Normalizer) -> None:
    assert matches(normalizer, "газ", "ПОСТАВКИ ГАЗА В РЕГИОН ВЫРОСЛИ")
    assert matches(normalizer, "экспорт", "ЭКСПОРТ В КИТАЙ ВЫРОС")


def test_soft_hyphen_and_stress_marks_are_ignored(normalizer: Normalizer) -> None:
    assert matches(normalizer, "экспорт", "экс\u00adпорт вырос")
    assert matches(normalizer, "Куба", "на Ку\u0301бе")


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("import", "It is important to note"),
        ("container", "The report contains figures"),
        ("digital", "Double-digit growth"),
        ("localization", "Local residents"),
    ],
)
def test_english_stems_that_snowball_conflates_are_kept_apart(
    normalizer: Normalizer, keyword: str, text: str
) -> None:
    assert not matches(normalizer, keyword, text)


def test_english_localisation_spellings_are_one_word(normalizer: Normalizer) -> None:
    assert matches(normalizer, "localization", "plans to localise production")
    assert matches(normalizer, "localisation", "the localization level")


def test_phrase_key_is_canonical(normalizer: Normalizer) -> None:
    assert normalizer.phrase_key("Кубе") == normalizer.phrase_key("Куба") == "куба"
    assert normalizer.phrase_key("  T-Hub ") == "t hub"
    assert normalizer.phrase_key("ГАЗ") == "ГАЗ" != normalizer.phrase_key("газ")
    assert normalizer.phrase_key("экспортёры") == normalizer.phrase_key("экспортер")
    assert normalizer.phrase_key("«!»") == ""


def test_digits_are_tokens(normalizer: Normalizer) -> None:
    assert [t.text for t in normalizer.tokens("Локализация-2030, 5G")] == [
        "Локализация",
        "2030",
        "5G",
    ]


def test_shared_analyzer_and_tiny_cache_give_the_same_result() -> None:
    small = Normalizer(pymorphy3.MorphAnalyzer(), cache_size=2)
    text = "На Кубе и с Кубой, на Кубе"
    first = small.tokens(text)
    assert small.tokens(text) == first
    assert all(t.lemmas == {"куба"} for t in first if t.text.startswith("Куб"))


def test_stemming_from_many_threads_matches_one_thread():
    """Regression: a shared Snowball stemmer raised IndexError under the poller's threads."""
    from concurrent.futures import ThreadPoolExecutor

    words = [
        f"{stem}{'x' * (n % 7)}{suffix}"
        for n, (stem, suffix) in enumerate(
            (s, x)
            for s in ("export", "locali", "manufactur", "shipment", "contain", "generat")
            for x in ("ing", "ations", "ers", "s", "ed", "ional", "ization", "fulness")
        )
    ] * 60
    shared = Normalizer()
    expected = [shared._stem(w) for w in words]

    def run(offset: int) -> bool:
        return all(shared._stem(words[i]) == expected[i] for i in range(offset, len(words), 8))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(run, range(8)))
