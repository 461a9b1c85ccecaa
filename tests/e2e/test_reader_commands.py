"""Reader commands of SPEC 4, driven through the real bot and the fake Bot API."""

import pytest
from harness import buttons, query
from pg_server import BACKENDS

FEEDS = """
[[feeds]]
url = "https://www.niann.ru/rss.xml"
name = "niann"

[[feeds]]
url = "https://www.vremyan.ru/rss/news.rss"
name = "vremyan"
"""


def subscriptions_in_db(bot, chat_id):
    """What the database holds, read beside the running bot (WAL allows it)."""
    return sorted(query(bot, "SELECT kind, key FROM subscriptions WHERE chat_id = ?", (chat_id,)))


def topic_buttons(message):
    return [text for text, data in buttons(message) if data and data.startswith("topic:")]


@pytest.mark.parametrize(
    ("language_code", "greeting", "china"),
    [("en", "Hello, Ann!", "🇨🇳 China"), ("ru", "Здравствуйте, Ann!", "🇨🇳 Китай")],
)
async def test_start_greets_in_the_readers_language_with_topic_keyboard(
    start_bot, reader, language_code, greeting, china
):
    await start_bot()
    ann = reader(language_code=language_code)
    reply = await ann.ask("/start")
    assert greeting in reply["text"]
    assert reply["parse_mode"] == "HTML"
    labels = topic_buttons(reply)
    assert len(labels) == 18 and china in labels
    assert not any(label.startswith("✅") for label in labels)


async def test_ukrainian_and_belarusian_clients_get_russian(start_bot, reader):
    await start_bot()
    for code in ("uk", "be"):
        reply = await reader(language_code=code).ask("/start")
        assert "Здравствуйте" in reply["text"]


async def test_command_menu_registered_per_language(start_bot, tg):
    await start_bot()
    ru = tg.commands[("all_private_chats", "ru")]
    en = tg.commands[("all_private_chats", "en")]
    assert [c["command"] for c in ru] == [c["command"] for c in en]
    assert {"start", "topics", "subscribe", "unsubscribe", "list", "help"} <= {
        c["command"] for c in en
    }
    assert ru[0]["description"] != en[0]["description"]
    assert tg.commands[("all_private_chats", "")] == en


async def test_topic_keyboard_toggles_in_place(start_bot, reader):
    bot = await start_bot()
    ann = reader()
    keyboard = await ann.ask("/topics")
    await ann.press(keyboard, "🇨🇳 China")
    edit = await ann.expect_edit()
    assert edit.method == "editMessageReplyMarkup"
    assert "✅ 🇨🇳 China" in topic_buttons(ann.stored_message(keyboard))
    answer = await ann.expect_callback_answer()
    assert "China" in answer.params["text"]
    assert subscriptions_in_db(bot, ann.chat_id) == [("topic", "china")]

    await ann.press(keyboard, "✅ 🇨🇳 China")
    await ann.expect_edit()
    await ann.expect_callback_answer()
    assert "🇨🇳 China" in topic_buttons(ann.stored_message(keyboard))
    assert subscriptions_in_db(bot, ann.chat_id) == []
    # One message, edited in place: no new keyboard was sent.
    assert len(ann.messages) == 1


async def test_subscribe_topic_keyword_and_source_then_list(start_bot, reader):
    bot = await start_bot(feeds=FEEDS)
    ann = reader()
    assert "<b>🇮🇳 India</b>" in (await ann.ask("/subscribe Индия"))["text"]
    assert "<b>Куба</b>" in (await ann.ask("/subscribe Куба"))["text"]
    assert "<b>niann</b>" in (await ann.ask("/subscribe source:niann"))["text"]
    assert "already" in (await ann.ask("/subscribe Кубе"))["text"]
    listing = (await ann.ask("/list"))["text"]
    assert "Topics: 🇮🇳 India" in listing
    assert "Keywords: «Куба»" in listing
    assert "Sources: niann" in listing
    assert "3 of 50" in listing
    assert "instant" in listing
    kinds = [kind for kind, _ in subscriptions_in_db(bot, ann.chat_id)]
    assert sorted(kinds) == ["keyword", "source", "topic"]


async def test_subscribe_in_russian(start_bot, reader):
    await start_bot(feeds=FEEDS)
    olga = reader(language_code="ru", first_name="Ольга")
    assert "Вы подписались на тему" in (await olga.ask("/subscribe china"))["text"]
    assert "Вы подписались на слово" in (await olga.ask("/subscribe Дзержинск"))["text"]
    listing = (await olga.ask("/list"))["text"]
    assert "Темы: 🇨🇳 Китай" in listing and "Слова: «Дзержинск»" in listing


async def test_unknown_source_lists_the_known_ones(start_bot, reader):
    bot = await start_bot(feeds=FEEDS)
    ann = reader()
    text = (await ann.ask("/subscribe source:nowhere"))["text"]
    assert "nowhere" in text and "niann" in text and "vremyan" in text
    assert subscriptions_in_db(bot, ann.chat_id) == []


async def test_unsubscribe_by_argument_and_by_button(start_bot, reader):
    bot = await start_bot(feeds=FEEDS)
    ann = reader()
    await ann.ask("/subscribe china")
    await ann.ask("/subscribe T-Hub")
    assert "Removed" in (await ann.ask("/unsubscribe China"))["text"]
    assert "not subscribed" in (await ann.ask("/unsubscribe china"))["text"]

    menu = await ann.ask("/unsubscribe")
    assert [text for text, _ in buttons(menu)] == ["❌ «T-Hub»"]
    await ann.press(menu, "❌ «T-Hub»")
    edit = await ann.expect_edit()
    assert "No subscriptions left" in edit.params["text"]
    assert "T-Hub" in (await ann.expect_callback_answer()).params["text"]
    assert subscriptions_in_db(bot, ann.chat_id) == []
    assert "no subscriptions" in (await ann.ask("/unsubscribe"))["text"]


async def test_pause_and_resume(start_bot, reader):
    await start_bot()
    ann = reader()
    assert "paused" in (await ann.ask("/pause"))["text"]
    assert "already paused" in (await ann.ask("/pause"))["text"]
    assert "paused" in (await ann.ask("/list"))["text"]
    assert "on again" in (await ann.ask("/resume"))["text"]
    assert "already on" in (await ann.ask("/resume"))["text"]


async def test_language_switch_by_argument_and_by_button(start_bot, reader, tg):
    await start_bot()
    ann = reader(language_code="en")
    assert "по-русски" in (await ann.ask("/lang ru"))["text"]
    assert "Что я умею" in (await ann.ask("/help"))["text"]
    assert tg.commands[(f"chat:{ann.chat_id}", "")][0]["description"] == "Начать и выбрать темы"

    chooser = await ann.ask("/lang")
    await ann.press(chooser, "🇬🇧 English")
    edit = await ann.expect_edit()
    assert "English" in edit.params["text"]
    assert "What I can do" in (await ann.ask("/help"))["text"]
    assert "I speak Russian and English" in (await ann.ask("/lang de"))["text"]


async def test_help_in_both_languages_lists_commands_and_sources(start_bot, reader):
    await start_bot(feeds=FEEDS)
    en = (await reader(language_code="en").ask("/help"))["text"]
    ru = (await reader(language_code="ru").ask("/help"))["text"]
    for text in (en, ru):
        for command in ("/topics", "/subscribe", "/unsubscribe", "/list", "/pause", "/lang"):
            assert command in text
        assert "<code>niann</code>" in text
    assert "What I can do" in en and "Что я умею" in ru


async def test_returning_reader_is_welcomed_back_with_their_topics(start_bot, reader):
    await start_bot()
    ann = reader()
    await ann.ask("/start")
    await ann.ask("/subscribe it")
    reply = await ann.ask("/start")
    assert "Welcome back" in reply["text"]
    assert "✅ 💻 IT & digital technologies" in topic_buttons(reply)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_subscriptions_survive_a_restart(start_bot, reader):
    bot = await start_bot(feeds=FEEDS)
    ann = reader(language_code="ru")
    await ann.ask("/subscribe Китай")
    await ann.ask("/subscribe Куба")
    await ann.ask("/lang en")
    await ann.ask("/pause")
    assert await bot.stop() == 0

    await bot.start()
    listing = (await ann.ask("/list"))["text"]
    assert "Topics: 🇨🇳 China" in listing
    assert "Keywords: «Куба»" in listing
    assert "paused" in listing


async def test_group_messages_are_ignored(start_bot, tg, reader):
    await start_bot()
    mark = tg.mark()
    tg.queue_update(tg.group_message(1001, -100777, "/start"))
    await reader().barrier()
    assert not [c for c in tg.calls[mark:] if c.params.get("chat_id") == -100777]
