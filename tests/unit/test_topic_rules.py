"""Gazetteers and rules of the taxonomy (issue 12), and the shipped knowledge on generic
cases of SPEC 5.2 and of the known traps. The sentences are made up for these tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.topics.matcher import Matcher, split_sentences
from bot.topics.normalize import Normalizer
from bot.topics.taxonomy import TaxonomyError, default_topics_path, load_taxonomy

TOPICS = """
[[topics]]
id = "trade"
name = { ru = "Торговля", en = "Trade" }
keywords = { ru = ["экспорт"] }

[[topics]]
id = "machinery"
name = { ru = "Машиностроение", en = "Machinery" }
keywords = { ru = ["трактор"] }

[[topics]]
id = "events"
name = { ru = "События", en = "Events" }
keywords = { ru = ["форум"] }
exclude = { ru = ["форум болельщиков"] }
"""

RULES = """
[gazetteers.countries]
phrases = ["Египет", "Вьетнам"]

[gazetteers.foreign]
phrases = ["@countries", "иностранный"]

[gazetteers.makers]
topics = ["machinery"]
phrases = ["Ростсельмаш"]

[[rules]]
id = "foreign-supply"
all = ["@foreign", ["поставить", "отгрузить"]]
topics = ["trade"]

[[rules]]
id = "foreign-anywhere"
scope = "article"
all = ["@foreign", "поставка"]
topics = ["events"]

[[rules]]
id = "sport"
scope = "article"
all = [["матч", "хоккей"]]
unless = ["завод"]
veto = ["machinery", "trade"]
"""


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer()


def build(tmp_path: Path, normalizer: Normalizer, text: str) -> Matcher:
    path = tmp_path / "topics.toml"
    path.write_text(text, encoding="utf-8")
    return Matcher.from_taxonomy(load_taxonomy(path), normalizer)


@pytest.fixture
def ruled(tmp_path: Path, normalizer: Normalizer) -> Matcher:
    return build(tmp_path, normalizer, TOPICS + RULES)


@pytest.fixture(scope="module")
def shipped(normalizer: Normalizer) -> Matcher:
    return Matcher.from_taxonomy(load_taxonomy(default_topics_path()), normalizer)


# ------------------------------------------------------------------------------ mechanics


def test_a_rule_needs_every_group_in_one_sentence(ruled: Matcher) -> None:
    assert ruled.match_topics("Завод отгрузит насосы в Египет", "") >= {"trade"}
    assert "trade" not in ruled.match_topics("Делегация из Египта", "Завод отгрузил насосы.")
    # An included gazetteer counts like its own phrases; title and summary are two sentences.
    assert "trade" not in ruled.match_topics("Иностранный заказчик", "Им поставят станки")
    assert "trade" in ruled.match_topics("Станки поставят иностранному заказчику", "")


def test_an_article_rule_takes_its_groups_from_any_sentence(ruled: Matcher) -> None:
    topics = ruled.match_topics("Делегация из Вьетнама", "Обсудили график. Поставка в мае.")
    assert "events" in topics


def test_a_gazetteer_assigns_its_topics(ruled: Matcher) -> None:
    judgement = ruled.explain("Ростсельмаш нарастил выпуск", "")
    assert judgement.topics == {"machinery"}
    assert judgement.reasons[0].gazetteer == "makers"
    assert judgement.reasons[0].words == ("Ростсельмаш",)


def test_a_veto_wins_over_keywords_gazetteers_and_rules(ruled: Matcher) -> None:
    judgement = ruled.explain("Ростсельмаш и экспорт", "Хоккей: матч в субботу")
    assert judgement.topics == frozenset()
    cancelled = {x.topic: x for x in judgement.exclusions}
    assert cancelled["machinery"].rule == "sport"
    assert cancelled["machinery"].words == "Ростсельмаш"
    assert cancelled["trade"].by == "Хоккей"


def test_unless_keeps_a_veto_from_firing(ruled: Matcher) -> None:
    assert "machinery" in ruled.match_topics("Завод выпустил трактор к матчу", "")


def test_an_exclusion_phrase_is_explained(ruled: Matcher) -> None:
    judgement = ruled.explain("Форум болельщиков открылся", "")
    assert judgement.topics == frozenset()
    assert [(x.topic, x.words, x.by, x.rule) for x in judgement.exclusions] == [
        ("events", "Форум", "Форум болельщиков", None)
    ]


def test_a_rule_reason_names_the_rule_and_its_words(ruled: Matcher) -> None:
    reason = next(r for r in ruled.explain("В Египет отгрузили краны", "").reasons)
    assert (reason.topic, reason.rule, reason.words) == (
        "trade",
        "foreign-supply",
        ("Египет", "отгрузили"),
    )


def test_explain_and_match_agree(ruled: Matcher) -> None:
    for title in ("Экспорт в Египет", "Хоккей и трактор", "Форум болельщиков", "Ничего"):
        assert ruled.explain(title, "").topics == ruled.match_topics(title, "")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[gazetteers.a]\nphrases = ['@b']\n", "unknown '@b'"),
        (
            "[gazetteers.a]\nphrases = ['@b']\n[gazetteers.b]\nphrases = ['@a']\n",
            "includes itself",
        ),
        ("[gazetteers.a]\nphrases = ['x']\ntopics = ['nope']\n", "unknown topic 'nope'"),
        ("[[rules]]\nid = 'r'\nall = ['@nope']\ntopics = ['trade']\n", "unknown gazetteer"),
        ("[[rules]]\nid = 'r'\nall = ['x']\n", "needs topics"),
        ("[[rules]]\nid = 'r'\nall = []\ntopics = ['trade']\n", "at least one group"),
        ("[[rules]]\nid = 'r'\nall = ['x']\ntopics = ['nope']\n", "unknown topic"),
        ("[[rules]]\nid = 'r'\nall = ['x']\nveto = ['trade']\nscope = 'page'\n", "scope"),
        ("[[rules]]\nid = 'r'\nall = [[]]\ntopics = ['trade']\n", "an empty group"),
        ("[[rules]]\nid = 'r'\nall = ['—']\ntopics = ['trade']\n", "has no word"),
        ("[[rules]]\nid = 'r'\nall = ['x']\ntopics = ['trade']\nunles = ['y']\n", "unles"),
        (
            "[[rules]]\nid = 'r'\nall = ['x']\ntopics = ['trade']\nveto = ['trade']\n",
            "both assigned and vetoed",
        ),
        ("[gazetteers.a]\nphrases = []\n", "at least one phrase"),
        ("[gazetteers.a]\nphrase = ['x']\n", "unknown key phrase"),
        (
            "[[rules]]\nid = 'r'\nall = ['x']\nveto = ['trade']\n"
            "[[rules]]\nid = 'r'\nall = ['y']\nveto = ['trade']\n",
            "duplicate id",
        ),
    ],
)
def test_a_broken_rule_or_gazetteer_stops_loading(tmp_path: Path, extra: str, message: str):
    path = tmp_path / "topics.toml"
    path.write_text(TOPICS + extra, encoding="utf-8")
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy(path)


# ------------------------------------------------------------- shipped taxonomy: SPEC 5.2


@pytest.mark.parametrize(
    ("title", "topic"),
    [
        ("Поставки в Китай выросли", "china"),
        ("Сотрудничество с Китаем расширят", "china"),
        ("Rising exports of timber", "trade"),
        ("Exporting grain gets harder", "trade"),
        ("Группа ГАЗ представила новый фургон", "machinery"),
    ],
)
def test_spec_5_2_forms_match(shipped: Matcher, title: str, topic: str) -> None:
    assert topic in shipped.match_topics(title, "")


@pytest.mark.parametrize(
    ("title", "topic"),
    [
        ("Добыча газа выросла на месторождении", "machinery"),
        ("It was a quiet week in the city", "it"),
    ],
)
def test_spec_5_2_lookalikes_do_not_match(shipped: Matcher, title: str, topic: str) -> None:
    assert topic not in shipped.match_topics(title, "")


# ------------------------------------------------------- shipped taxonomy: kinds of news


@pytest.mark.parametrize(
    ("title", "summary", "wanted"),
    [
        # Goods to a foreign buyer, no word "экспорт".
        ("Арзамасский завод отгрузил насосы заказчику в Египте", "", {"trade"}),
        ("Линии розлива продадут партнёрам из Вьетнама", "", {"trade"}),
        ("Trade between Vietnam and Russia grew by a fifth", "", {"trade"}),
        # A foreign company creates production here.
        ("Турецкая компания создаст производство стеклотары в Кстове", "", {"localization"}),
        ("Иностранный инвестор построит завод в Богородске", "", {"investment"}),
        # Openings of new production of a kind.
        ("В Павлове запустили производство подшипников", "", {"machinery", "localization"}),
        ("Швейный участок открылся в Лыскове", "", {"light_industry"}),
        ("Подписан договор о строительстве завода агрохимикатов", "", {"chemicals"}),
        # Tech names and English commentary.
        ("Американский производитель чипов открыл офис в Москве", "", {"it"}),
        ("The tech industry faces a hiring slowdown", "", {"it"}),
        # A facility with its price is an investment.
        ("В районе построят тепличный комплекс за 900 млн рублей", "", {"investment"}),
    ],
)
def test_kinds_of_news_get_their_topics(
    shipped: Matcher, title: str, summary: str, wanted: set[str]
) -> None:
    assert wanted <= shipped.match_topics(title, summary)


@pytest.mark.parametrize(
    ("title", "summary", "unwanted"),
    [
        ("Вузы области добавили бюджетные места на инженерные направления", "", "finance"),
        ("Абитуриентов приняли на бюджет в трёх вузах", "", "finance"),
        (
            "Телефонные мошенники выманили у пенсионерки сбережения",
            "Аферисты представились сотрудниками банка и врачом поликлиники.",
            "finance",
        ),
        ("Хоккейный клуб «Торпедо» обыграл «Трактор» в матче КХЛ", "", "machinery"),
        ("«Химик» уступил в овертайме", "Матч прошёл при полных трибунах.", "chemicals"),
        ("Грузовик столкнулся с автобусом на трассе", "В ДТП пострадали трое.", "machinery"),
        ("Грузовик столкнулся с автобусом на трассе", "В ДТП пострадали трое.", "logistics"),
        (
            "Завод поставит линию розлива в Узбекистан",
            "Контракт включает монтаж и обучение персонала заказчика.",
            "education",
        ),
        ("После хлопка газа жильцов эвакуировали в школу", "", "education"),
        ("Школьники сдали ЕГЭ по химии лучше прошлогоднего", "", "chemicals"),
        ("Кафе с индийской кухней открылось на набережной", "", "india"),
    ],
)
def test_traps_do_not_get_the_topic(
    shipped: Matcher, title: str, summary: str, unwanted: str
) -> None:
    judgement = shipped.explain(title, summary)
    assert unwanted not in judgement.topics, judgement


def test_sentences_do_not_end_at_initials_or_abbreviations() -> None:
    text = "Завод в г. Дзержинске им. Свердлова выпустит 5 тыс. Тонн. А. Б. Иванов доволен! Итог?"
    assert split_sentences(text) == [
        "Завод в г. Дзержинске им. Свердлова выпустит 5 тыс. Тонн.",
        "А. Б. Иванов доволен!",
        "Итог?",
    ]
    assert split_sentences("") == [""]


def test_a_rule_reads_words_across_an_abbreviation(ruled: Matcher) -> None:
    assert "trade" in ruled.match_topics("Завод в г. Ковров отгрузит насосы в Египет", "")


def test_a_sentence_veto_looks_for_unless_in_the_whole_article(
    tmp_path: Path, normalizer: Normalizer
) -> None:
    vetoing = build(
        tmp_path,
        normalizer,
        TOPICS
        + """
[[rules]]
id = "cafe"
all = [["кафе"], ["экспорт"]]
unless = ["поставка"]
veto = ["trade"]
""",
    )
    assert "trade" not in vetoing.match_topics("Кафе и экспорт", "")
    # The veto would cancel trade everywhere, so an 'unless' in another sentence counts.
    assert "trade" in vetoing.match_topics("Кафе и экспорт", "Обсудили поставки сыра.")
