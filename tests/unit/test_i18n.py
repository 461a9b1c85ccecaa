import re

from bot.i18n import Catalogue, Html, language_for, placeholders

ALLOWED_TAGS = {"b", "i", "code", "u", "s", "a", "pre", "blockquote"}


def test_every_key_exists_in_both_languages():
    catalogue = Catalogue.load()
    ru, en = catalogue.texts["ru"], catalogue.texts["en"]
    assert set(ru) - set(en) == set(), "keys missing in en.toml"
    assert set(en) - set(ru) == set(), "keys missing in ru.toml"


def test_placeholders_match_between_languages():
    catalogue = Catalogue.load()
    for key, template in catalogue.texts["en"].items():
        assert placeholders(template) == placeholders(catalogue.texts["ru"][key]), key


def test_texts_are_valid_telegram_html():
    """A stray `<` or unknown tag would make Telegram refuse the whole message."""
    for language, texts in Catalogue.load().texts.items():
        for key, template in texts.items():
            for tag in re.findall(r"</?([a-zA-Z-]+)[^>]*>", template):
                assert tag in ALLOWED_TAGS, f"{language}:{key} uses <{tag}>"
            stripped = re.sub(r"</?[a-z]+>", "", template)
            assert "<" not in stripped and ">" not in stripped, f"{language}:{key}"


def test_values_are_escaped_unless_marked_html():
    t = Catalogue.load().translator("en")
    text = t("subscribe.added_keyword", keyword="<script>&")
    assert "&lt;script&gt;&amp;" in text and "<script>" not in text
    assert "<i>x</i>" in t("subscribe.added_keyword", keyword=Html("<i>x</i>"))


def test_plain_does_not_escape():
    t = Catalogue.load().translator("en")
    assert t.plain("topics.subscribed", topic="Trade & exports").endswith("Trade & exports")


def test_language_from_telegram_code():
    assert [language_for(c) for c in ("ru", "uk", "be", "en", "de", "ru-RU", None, "")] == [
        "ru",
        "ru",
        "ru",
        "en",
        "en",
        "ru",
        "en",
        "en",
    ]


def test_unknown_language_falls_back_to_english():
    catalogue = Catalogue.load()
    assert catalogue.translator("fr")("pause.done") == catalogue.translator("en")("pause.done")
