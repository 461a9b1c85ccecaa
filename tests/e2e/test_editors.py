"""Editors' breaking items (SPEC 8.1, 8.2, 8.2a) through the real bot and the fake Bot API."""


import pytest
from harness import query
from pg_server import BACKENDS

ADMIN = 900
EDITOR = 901
CHINA_CHANNEL = -1001000000001
ENERGY_CHANNEL = -1001000000002


@pytest.fixture
def bot_env(database_url):
    return {"ADMIN_IDS": str(ADMIN), **({"DATABASE_URL": database_url} if database_url else {})}


def channel(tg, chat_id, title):
    tg.register_chat(chat_id, "channel", title=title)
    tg.set_member(chat_id, tg.bot_id, "administrator")


async def newsroom(start_bot, reader, tg):
    """An admin, an editor, readers of china and trade, a china channel and an energy one."""
    bot = await start_bot()
    admin, editor = reader(ADMIN), reader(EDITOR)
    await editor.ask("/start")
    assert "now an editor" in (await admin.ask(f"/editor add {EDITOR}"))["text"]
    ann, bob = reader(), reader()
    await ann.ask("/subscribe china")
    await bob.ask("/subscribe trade")
    channel(tg, CHINA_CHANNEL, "China news")
    channel(tg, ENERGY_CHANNEL, "Energy news")
    added = await admin.ask(f"/channel add {CHINA_CHANNEL} china")
    assert "#china" in added["text"]
    await admin.ask(f"/channel add {ENERGY_CHANNEL} energy")
    return bot, admin, editor, ann, bob


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_post_with_hashtags_reaches_topic_readers_and_filtered_channels(
    start_bot, reader, tg
):
    bot, _admin, editor, ann, bob = await newsroom(start_bot, reader, tg)
    preview = await editor.ask("/post #china Заголовок срочной\nПодробности & детали")
    text = preview["text"]
    assert "№1" in text and "/correct 1" in text and "/recall 1" in text
    assert "1 reader(s), 1 channel(s)" in text
    assert "Подробности &amp; детали" in text  # the editor's text is escaped

    await editor.press(preview, "📣 Send")
    edit = await editor.expect_edit()
    assert "being sent" in edit.params["text"]
    assert not editor.stored_message(preview).get("reply_markup")  # nothing to press twice
    push = await ann.expect_message(contains="Заголовок срочной")
    assert "#China" in push["text"]  # ann reads English
    report = await editor.expect_message(contains="Report on breaking №1")
    assert "Sent: 2" in report["text"] and "Failed: 0" in report["text"]
    assert "/recall 1" in report["text"]

    assert any("Заголовок срочной" in t for t in tg.sent_texts(CHINA_CHANNEL))
    await bob.barrier()
    assert not any("Заголовок" in t for t in tg.sent_texts(bob.chat_id))
    assert not tg.sent_texts(ENERGY_CHANNEL)
    assert query(bot, "SELECT status, reported_at IS NOT NULL FROM breaking") == [("sent", 1)]
    priorities = query(bot, "SELECT DISTINCT priority FROM outbox WHERE article_id IS NOT NULL")
    assert priorities == [(10,)]


async def test_second_press_and_other_users_presses_send_nothing_more(start_bot, reader, tg):
    bot, admin, editor, ann, bob = await newsroom(start_bot, reader, tg)
    preview = await editor.ask("/post Всем: срочное сообщение")
    assert "every active reader" in preview["text"]
    assert "4 reader(s), 0 channel(s)" in preview["text"]  # admin, editor, ann, bob

    stored = editor.stored_message(preview)
    send = stored["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await admin.press(stored, data=send)
    answer = await admin.expect_callback_answer()
    assert "Only the editor who wrote it" in answer.params["text"]
    await bob.press(stored, data=send)
    await bob.expect_callback_answer()
    await ann.barrier()
    assert query(bot, "SELECT status FROM breaking") == [("draft",)]

    await editor.press(stored, "📣 Send")
    await editor.expect_callback_answer()
    await editor.press(stored, data=send)  # the old keyboard, pressed again
    second = await editor.expect_callback_answer()
    assert second.params["text"] == "Already done."
    await editor.expect_message(contains="Report on breaking №1")
    for person in (ann, bob, admin):
        texts = tg.sent_texts(person.chat_id)
        assert sum("срочное сообщение" in t for t in texts) == 1
    assert query(bot, "SELECT count(*) FROM articles WHERE feed_id IS NULL") == [(1,)]


async def test_cancel_sends_nothing(start_bot, reader, tg):
    bot, _admin, editor, _ann, bob = await newsroom(start_bot, reader, tg)
    mark = tg.mark()
    preview = await editor.ask("/post #trade Отменённая новость")
    await editor.press(preview, "✖️ Cancel")
    edit = await editor.expect_edit()
    assert "cancelled" in edit.params["text"]
    await bob.assert_silent(mark)
    assert query(bot, "SELECT status, article_id FROM breaking") == [("cancelled", None)]
    assert query(bot, "SELECT count(*) FROM outbox WHERE article_id IS NOT NULL") == [(0,)]


async def test_unknown_hashtag_is_refused_and_a_posts_tag_names_its_topic(start_bot, reader, tg):
    bot, _admin, editor, _ann, _bob = await newsroom(start_bot, reader, tg)
    reply = await editor.ask("/post #chnia Опечатка в теме")
    assert "Unknown topics: #chnia" in reply["text"]
    assert query(bot, "SELECT count(*) FROM breaking") == [(0,)]
    preview = await editor.ask("/post #Китай #export Тег из публикации")
    assert "<b>To:</b> #china #trade" in preview["text"]
    assert query(bot, "SELECT topics FROM breaking") == [("china trade",)]


async def test_a_photo_post_goes_to_channels_as_a_photo_and_correct_edits_its_caption(
    start_bot, reader, tg
):
    """`/post` as a photo's caption (SPEC 7.5, 8.2a): the channel gets the photo with the
    text as its caption, the reader the text; /correct edits the caption and the text."""
    bot, _admin, editor, ann, _bob = await newsroom(start_bot, reader, tg)
    too_long = tg.private_photo(EDITOR, "/post #china " + "Длинный текст. " * 70)
    tg.queue_update(too_long)
    refusal = await editor.expect_message(contains="too long")
    assert "at most 900" in refusal["text"]
    assert query(bot, "SELECT count(*) FROM breaking") == [(0,)]  # no item was created
    update = tg.private_photo(EDITOR, "/post #china Новый цех открыт\nФото с площадки")
    photo_id = update["message"]["photo"][-1]["file_id"]
    tg.queue_update(update)
    preview = await editor.expect_message(contains="preview")
    assert "№1" in preview["text"] and "📷" in preview["text"]
    await editor.press(preview, "📣 Send")
    await editor.expect_message(contains="Report on breaking №1")

    (posted,) = [c for c in tg.calls_of("sendPhoto", chat_id=CHINA_CHANNEL) if c.ok]
    assert posted.params["photo"] == photo_id
    assert posted.result["caption"].startswith("Новый цех открыт")
    push = [c for c in tg.calls_of("sendMessage", chat_id=ann.chat_id) if c.ok][-1]
    assert "Новый цех открыт" in push.params["text"]
    rows = query(bot, "SELECT chat_id, photo FROM outbox WHERE article_id IS NOT NULL")
    assert sorted(rows) == sorted([(ann.chat_id, 0), (CHINA_CHANNEL, 1)])

    reply = await editor.ask("/correct 1 Новый цех открыт в Дзержинске\nФото с площадки")
    assert "2 cop(ies) edited, 0 failed, 0 not delivered" in reply["text"]
    (caption_edit,) = tg.calls_of("editMessageCaption")
    assert caption_edit.ok and caption_edit.params["chat_id"] == CHINA_CHANNEL
    (text_edit,) = tg.calls_of("editMessageText", chat_id=ann.chat_id)
    assert text_edit.ok and not tg.calls_of("editMessageText", chat_id=CHINA_CHANNEL)
    edited = tg.get_message(CHINA_CHANNEL, posted.result["message_id"])
    assert edited["caption"].startswith("Новый цех открыт в Дзержинске") and edited["photo"]
    long_fix = await editor.ask("/correct 1 " + "Длинный текст. " * 70)
    assert "at most 900" in long_fix["text"]


async def test_correct_and_recall_reach_every_delivered_copy(start_bot, reader, tg):
    bot, _admin, editor, ann, _bob = await newsroom(start_bot, reader, tg)
    preview = await editor.ask("/post #china Опечтака в заголовке")
    await editor.press(preview, "📣 Send")
    await editor.expect_message(contains="Report on breaking №1")
    copies = query(bot, "SELECT chat_id, message_id FROM outbox WHERE article_id IS NOT NULL")
    assert sorted(chat for chat, _ in copies) == sorted([ann.chat_id, CHINA_CHANNEL])

    reply = await editor.ask("/correct 1 Опечатка в заголовке")
    assert "2 cop(ies) edited, 0 failed, 0 not delivered" in reply["text"]
    for chat_id, message_id in copies:
        assert "Опечатка в заголовке" in tg.get_message(chat_id, message_id)["text"]

    reply = await editor.ask("/recall 1")
    assert "2 cop(ies) deleted, 0 failed" in reply["text"]
    for chat_id, message_id in copies:
        assert tg.get_message(chat_id, message_id) is None
    again = await editor.ask("/recall 1")
    assert "recalled already" in again["text"]
    unknown = await editor.ask("/correct 7 Текст")
    assert "no sent breaking item №7" in unknown["text"]


STAFF_COMMANDS = [
    "/post Новость",
    "/correct 1 Текст",
    "/recall 1",
    "/stats",
    "/feeds",
    "/export",
    "/editor add 1001",
    "/editors",
    "/addfeed https://example.org/rss.xml",
    "/delfeed 1",
    "/channels",
    f"/channel add {CHINA_CHANNEL}",
    f"/channel remove {CHINA_CHANNEL}",
    "/import",
]


@pytest.mark.parametrize("language_code", ["en", "ru"])
async def test_readers_are_refused_every_staff_command_and_nothing_changes(
    start_bot, reader, tg, language_code
):
    bot = await start_bot(feeds='[[feeds]]\nurl = "https://www.niann.ru/rss.xml"\nname = "niann"\n')
    channel(tg, CHINA_CHANNEL, "China news")
    state = (
        "SELECT feed_id, url, name FROM feeds",
        "SELECT chat_id, role, target FROM chats WHERE chat_id < 0 OR role != 'reader'",
    )
    before = [query(bot, sql) for sql in state]
    refusal = "⛔ Эта команда только для" if language_code == "ru" else "⛔ This command is for"
    for index, command in enumerate(STAFF_COMMANDS):
        if index % 5 == 0:  # a new reader now and then: flood control allows 10 at once
            plain = reader(language_code=language_code)
        reply = await plain.ask(command)
        assert refusal in reply["text"], command
    assert not tg.calls_of("sendDocument")
    assert not tg.calls_of("getChatMember")
    assert [query(bot, sql) for sql in state] == before
    assert query(bot, "SELECT count(*) FROM breaking") == [(0,)]


async def test_editors_may_post_but_not_administer(start_bot, reader, tg):
    bot = await start_bot()
    admin, editor = reader(ADMIN), reader(EDITOR)
    await admin.ask(f"/editor add {EDITOR}")
    listing = await admin.ask("/editors")
    assert f"{ADMIN} (admin)" in listing["text"] and f"• {EDITOR}" in listing["text"]
    assert "preview" in (await editor.ask("/post Новость"))["text"]
    reply = await editor.ask("/editor remove 901")
    assert "for admins" in reply["text"]
    assert query(bot, "SELECT role FROM chats WHERE chat_id = ?", (EDITOR,)) == [("editor",)]
    assert "no longer an editor" in (await admin.ask(f"/editor remove {EDITOR}"))["text"]
    assert "for the agency's editors" in (await editor.ask("/post Новость"))["text"]


async def test_report_counts_readers_who_blocked_the_bot(start_bot, reader, tg):
    bot, _admin, editor, ann, bob = await newsroom(start_bot, reader, tg)
    tg.block(bob.chat_id)
    preview = await editor.ask("/post #china #trade Для двух тем")
    assert "2 reader(s), 1 channel(s)" in preview["text"]
    await editor.press(preview, "📣 Send")
    report = await editor.expect_message(contains="Report on breaking №1")
    assert "Sent: 2" in report["text"]
    assert "Blocked or unreachable: 1" in report["text"]
    assert query(bot, "SELECT active FROM chats WHERE chat_id = ?", (bob.chat_id,)) == [(0,)]
    assert any("Для двух тем" in t for t in tg.sent_texts(ann.chat_id))


async def test_superscript_digit_ids_get_the_usage_reply(start_bot, reader, tg):
    """/recall ² failed with no reply: "²".isdigit() is true but int("²") raises."""
    await start_bot()
    admin = reader(ADMIN)
    assert "Usage: <code>/recall ID</code>" in (await admin.ask("/recall ²"))["text"]
    assert "Usage: <code>/correct ID" in (await admin.ask("/correct ² Текст"))["text"]
    assert "No feed ²" in (await admin.ask("/delfeed ²"))["text"]
