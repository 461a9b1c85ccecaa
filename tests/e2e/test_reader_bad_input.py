"""SPEC 4.10: bad input gets a short explanation in the reader's language and changes nothing."""

import sqlite3

from harness import buttons, query


def subscription_count(bot, chat_id):
    return query(bot, "SELECT count(*) FROM subscriptions WHERE chat_id = ?", (chat_id,))[0][0]


def seed_keywords(bot, chat_id, count):
    """Written beside the running bot, as a second SQLite writer would."""
    db = sqlite3.connect(bot.db_path, timeout=10)
    with db:
        db.executemany(
            "INSERT INTO subscriptions (chat_id, kind, value, key, created_at)"
            " VALUES (?, 'keyword', ?, ?, '2026-01-01T00:00:00+00:00')",
            [(chat_id, f"word{n}", f"word{n}") for n in range(count)],
        )
    db.close()


# Cases share one bot, each with a reader of its own: a bot start costs seconds of the
# suite's budget, and a reader's state is all a case can touch.
BAD_KEYWORDS = [
    ("en", "/subscribe " + "x" * 500, "at most 64 characters long; yours has 500"),
    ("ru", "/subscribe " + "x" * 500, "не длиннее 64 символов, а в вашем 500"),
    ("en", "/subscribe a b c d e f", "at most 5 words; yours has 6"),
    ("en", "/subscribe ?!…", "at least one letter or digit"),
    ("ru", "/subscribe \u200b\u200d", "Выберите темы ниже"),
    ("en", "/subscribe source:", "Write the source name"),
    ("en", "/unsubscribe " + "y" * 4000, "yours has 4000"),
]


async def test_bad_keyword_is_explained_and_stores_nothing(start_bot, reader):
    bot = await start_bot()
    for language_code, command, expected in BAD_KEYWORDS:
        ann = reader(language_code=language_code)
        reply = await ann.ask(command)
        assert expected in reply["text"], command[:40]
        assert len(reply["text"]) < 600
        assert subscription_count(bot, ann.chat_id) == 0


async def test_empty_subscribe_shows_the_keyboard(start_bot, reader):
    bot = await start_bot()
    ann = reader()
    reply = await ann.ask("/subscribe")
    assert "Choose topics below" in reply["text"]
    assert len(buttons(reply)) == 18
    assert subscription_count(bot, ann.chat_id) == 0


async def test_markup_in_a_keyword_is_shown_not_interpreted(start_bot, reader):
    await start_bot()
    ann = reader()
    reply = await ann.ask("/subscribe <b>T&Hub</b>")
    assert "&lt;b&gt;T&amp;Hub&lt;/b&gt;" in reply["text"]
    listing = await ann.ask("/list")
    assert "&lt;b&gt;T&amp;Hub&lt;/b&gt;" in listing["text"]


async def test_sql_looking_keyword_is_just_a_keyword(start_bot, reader):
    bot = await start_bot()
    ann = reader()
    reply = await ann.ask("/subscribe '; DROP TABLE subscriptions; --")
    assert "Subscribed to the keyword" in reply["text"]
    assert subscription_count(bot, ann.chat_id) == 1


async def test_fifty_first_subscription_is_refused(start_bot, reader):
    bot = await start_bot()
    ann = reader()
    await ann.ask("/start")
    seed_keywords(bot, ann.chat_id, 50)
    assert "50 subscriptions, the maximum" in (await ann.ask("/subscribe Куба"))["text"]
    keyboard = await ann.ask("/topics")
    await ann.press(keyboard, "🇨🇳 China")
    answer = await ann.expect_callback_answer()
    assert "50" in answer.params["text"] and answer.params.get("show_alert") is True
    assert subscription_count(bot, ann.chat_id) == 50


FORGED = ["topic:no_such_topic", "garbage", "unsub:abc", "unsub:999999", "lang:fr", "topic:"]


async def test_forged_callback_data_is_answered_and_changes_nothing(start_bot, reader, tg):
    bot = await start_bot()
    for data in FORGED:
        ann = reader()
        keyboard = await ann.ask("/topics")
        mark = tg.mark()
        await ann.press(keyboard, data=data)
        answer = await ann.expect_callback_answer()
        assert "out of date" in answer.params["text"], data
        edits = [c for c in tg.calls[mark:] if c.method.startswith("editMessage")]
        assert edits == [], data
        assert subscription_count(bot, ann.chat_id) == 0


async def test_other_readers_subscription_cannot_be_removed_by_a_forged_button(start_bot, reader):
    bot = await start_bot()
    ann, bob = reader(), reader()
    await ann.ask("/subscribe Куба")
    menu = await ann.ask("/unsubscribe")
    ((_, data),) = buttons(menu)
    await bob.ask("/start")
    bob_message = bob.last_message
    await bob.press(bob_message, data=data)
    assert "out of date" in (await bob.expect_callback_answer()).params["text"]
    assert subscription_count(bot, ann.chat_id) == 1


async def test_pressing_an_old_button_twice_is_harmless(start_bot, reader):
    bot = await start_bot()
    ann = reader()
    await ann.ask("/subscribe Куба")
    menu = await ann.ask("/unsubscribe")
    ((_, data),) = buttons(menu)
    await ann.press(menu, data=data)
    await ann.expect_callback_answer()
    await ann.press(menu, data=data)
    assert "out of date" in (await ann.expect_callback_answer()).params["text"]
    assert subscription_count(bot, ann.chat_id) == 0


UNKNOWN = [
    ("en", "/frobnicate now", "I don't know the command /frobnicate"),
    ("ru", "/frobnicate", "Я не знаю команды /frobnicate"),
    ("en", "hello bot", "I understand commands"),
    ("ru", "привет", "Я понимаю команды"),
    ("en", "/" + "z" * 300, "I don't know the command /zzzz"),
]


async def test_unknown_command_and_plain_text(start_bot, reader):
    await start_bot()
    for language_code, text, expected in UNKNOWN:
        reply = await reader(language_code=language_code).ask(text)
        assert expected in reply["text"], text[:40]
        assert len(reply["text"]) < 300


async def test_flood_is_answered_once_and_others_still_served(start_bot, reader, tg):
    bot = await start_bot()
    flooder, other = reader(), reader()
    mark = tg.mark()
    for n in range(60):
        await flooder.send(f"/subscribe flood{n}")
    reply = await other.ask("/help")
    assert "What I can do" in reply["text"]
    await other.barrier()
    to_flooder = [
        c.params["text"]
        for c in tg.calls[mark:]
        if c.method == "sendMessage" and c.params.get("chat_id") == flooder.chat_id
    ]
    slow_downs = [text for text in to_flooder if "Too many messages" in text]
    assert len(slow_downs) == 1
    # A burst of 10 is allowed (plus what refilled while the flood was read); never all 60.
    assert len(to_flooder) <= 20
    assert subscription_count(bot, flooder.chat_id) == len(to_flooder) - 1
