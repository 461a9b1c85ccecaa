"""Fault suite, privilege (issue 6, SPEC 8.1): every editor and admin command from someone
without the role, in a private chat, in a group and as a channel post, is refused (private)
or ignored (group, channel) and changes nothing; no staff button works for them either.

The staff commands are read from the bot's own routers: a command added later without a
role guard is sent here like the others, and the test fails on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from aiogram import Router
from aiogram.filters import Command
from harness import buttons, query, table_dump

from bot.i18n import Catalogue
from bot.ui.views import COMMANDS as READER_COMMANDS
from handlers import build_router
from handlers.editor import EDITOR_COMMANDS

ADMIN = 900
EDITOR = 901
EDITOR2 = 902  # a second editor: flood control allows ten messages at once
CHANNEL = -1001000000077
GROUP = -1001000000555
FEEDS = '[[feeds]]\nurl = "https://www.niann.ru/rss.xml"\nname = "niann"\n'
OPML = (
    b'<?xml version="1.0"?><opml version="2.0"><body>'
    b'<outline text="evil" xmlUrl="https://evil.example/rss"/></body></opml>'
)

CATALOGUE = Catalogue.load()
REFUSALS = {
    CATALOGUE.translator(language)(key)
    for language in ("en", "ru")
    for key in ("editor.refused", "admin.refused")
}
ADMIN_REFUSALS = {CATALOGUE.translator(language)("admin.refused") for language in ("en", "ru")}


def _commands(router: Router) -> Iterator[str]:
    """Every command a Command filter of `router` or its sub-routers names."""
    handlers = [router.message._handler, *router.message.handlers]
    for handler in handlers:
        for filter_object in handler.filters or []:
            if isinstance(filter_object.callback, Command):
                for command in filter_object.callback.commands:
                    yield command if isinstance(command, str) else command.pattern
    for sub in router.sub_routers:
        yield from _commands(sub)


STAFF_COMMANDS = sorted(set(_commands(build_router())) - set(READER_COMMANDS))

# What a staff member would send to do harm; a command without an entry is sent bare.
ARGUMENTS = {
    "post": "#china Срочно: поддельная новость",
    "correct": "1 Исправленный текст",
    "recall": "1",
    "editor": "add {self}",
    "addfeed": "https://evil.example/rss.xml evil",
    "delfeed": "niann",
    "channel": f"remove {CHANNEL}",
    "retopic": "1 +trade -china",
    "why": "1",
}


def staff_texts(user_id: int) -> list[str]:
    texts = []
    for command in STAFF_COMMANDS:
        argument = ARGUMENTS.get(command, "").format(self=user_id)
        texts.append(f"/{command} {argument}".rstrip())
    texts += ["/editor remove 901", "/channel add -1001000000123 china", "/delfeed 1"]
    return texts


@pytest.fixture
def bot_env():
    return {"ADMIN_IDS": str(ADMIN)}


def test_staff_commands_are_found_in_the_routers():
    expected = {"post", "correct", "recall", "stats", "feeds", "export", "why", "retopic"}
    expected |= {"editor", "editors", "addfeed", "delfeed", "channels", "channel", "import"}
    assert expected <= set(STAFF_COMMANDS)


def assert_clean(tg, bot) -> None:
    refused = [c.brief() for c in tg.calls if not c.ok and c.method != "getUpdates"]
    assert not refused, "Telegram refused:\n" + "\n".join(refused)
    failures = re.findall(r"update_id=\d+ failed.*", bot.log_text())
    assert not failures, "\n".join(failures)


def staff_calls(tg, mark: int) -> list[str]:
    """Calls only a staff command makes: files, chat checks, documents."""
    methods = {"sendDocument", "getChatMember", "getChat", "getFile", "editMessageText"}
    return [c.brief() for c in tg.calls[mark:] if c.method in methods]


async def newsroom(start_bot, reader, tg):
    """A feed, an editor with a draft, a target channel and a reader subscribed to china."""
    bot = await start_bot(feeds=FEEDS)
    admin, editor = reader(ADMIN), reader(EDITOR)
    await editor.ask("/start")
    await reader(EDITOR2).ask("/start")
    assert "now an editor" in (await admin.ask(f"/editor add {EDITOR}"))["text"]
    assert "now an editor" in (await admin.ask(f"/editor add {EDITOR2}"))["text"]
    tg.register_chat(CHANNEL, "channel", title="Agency")
    tg.set_member(CHANNEL, tg.bot_id, "administrator")
    assert "#china" in (await admin.ask(f"/channel add {CHANNEL} china"))["text"]
    preview = await editor.ask("/post #china Черновик редактора")
    assert "preview" in preview["text"]
    return bot, admin, editor, preview


def document_update(tg, user_id: int, chat: dict) -> dict:
    """/import with an OPML file, sent in `chat` (private, group or channel)."""
    update = tg.private_document(user_id, OPML, "feeds.opml", caption="/import")
    message = update["message"]
    message["chat"] = chat
    if chat["type"] == "channel":
        del message["from"]
        message["sender_chat"] = chat
        return {"channel_post": message}
    return update


async def test_private_chat_readers_and_editors_are_refused_and_nothing_changes(
    start_bot, reader, tg
):
    bot, _admin, editor, _preview = await newsroom(start_bot, reader, tg)
    plain = [reader(language_code=code) for code in ("en", "ru", "en", "ru")]
    for person in plain:
        await person.ask("/start")
    before = table_dump(bot)
    mark = tg.mark()

    for index, text in enumerate(staff_texts(plain[0].user_id)):
        person = plain[index % len(plain)]  # within flood control's burst
        reply = await person.ask(text)
        assert reply["text"] in REFUSALS, f"{text!r} from a reader: {reply['text'][:200]}"
        assert not buttons(reply)
    opml_sender = plain[-1]
    tg.queue_update(document_update(tg, opml_sender.user_id, tg.chats[opml_sender.user_id]))
    assert (await opml_sender.expect_message())["text"] in ADMIN_REFUSALS

    admin_only = [
        text
        for text in staff_texts(EDITOR)
        if text.split()[0][1:] not in EDITOR_COMMANDS
    ]
    editors = [editor, reader(EDITOR2)]
    for index, text in enumerate(admin_only):
        reply = await editors[index % 2].ask(text)
        assert reply["text"] in ADMIN_REFUSALS, f"{text!r} from an editor: {reply['text'][:200]}"
    tg.queue_update(document_update(tg, EDITOR2, tg.chats[EDITOR2]))
    assert (await editors[1].expect_message())["text"] in ADMIN_REFUSALS

    await editor.barrier()
    assert staff_calls(tg, mark) == []
    assert table_dump(bot) == before
    assert_clean(tg, bot)


async def test_group_messages_and_channel_posts_are_ignored(start_bot, reader, tg):
    bot, _admin, _editor, _preview = await newsroom(start_bot, reader, tg)
    tg.register_chat(GROUP, "supergroup", title="Public group")
    intruder = 777
    before = table_dump(bot)
    mark = tg.mark()

    texts = staff_texts(intruder)
    mentioned = [f"{t.split()[0]}@{tg.username} {' '.join(t.split()[1:])}".rstrip() for t in texts]
    for text in texts + mentioned:  # one user, more than flood control's burst
        tg.queue_update(tg.group_message(intruder, GROUP, text))
        tg.queue_update(tg.channel_post(CHANNEL, text))
    tg.queue_update(document_update(tg, intruder, tg.chats[GROUP]))
    tg.queue_update(document_update(tg, intruder, tg.chats[CHANNEL]))
    # Staff themselves in a group: staff commands work in their private chat only.
    for text in staff_texts(ADMIN)[:5]:
        tg.queue_update(tg.group_message(ADMIN, GROUP, text))
    await reader().barrier(timeout=20)

    spoken = [
        c.brief()
        for c in tg.calls[mark:]
        if c.params.get("chat_id") in (GROUP, CHANNEL, intruder, ADMIN)
    ]
    assert spoken == [], "the bot spoke:\n" + "\n".join(spoken)
    assert staff_calls(tg, mark) == []
    assert table_dump(bot) == before
    assert_clean(tg, bot)


async def test_staff_buttons_do_nothing_for_others(start_bot, reader, tg):
    bot, admin, editor, preview = await newsroom(start_bot, reader, tg)
    stored = editor.stored_message(preview)
    (item_id,) = query(bot, "SELECT breaking_id FROM breaking")[0]
    send, cancel = f"brk:{item_id}:1", f"brk:{item_id}:0"
    assert [data for _, data in buttons(stored)] == [send, cancel]

    ann = reader()
    own = await ann.ask("/topics")
    tg.register_chat(GROUP, "supergroup", title="Public group")
    group_message = {"message_id": 1, "chat": tg.chats[GROUP], "date": 0, "text": "x"}
    before = table_dump(bot)
    mark = tg.mark()
    attempts = [
        (ann, stored, send),  # the editor's own preview, pressed by a reader
        (ann, stored, cancel),
        (ann, own, send),  # forged onto the reader's own message
        (ann, own, cancel),
        (ann, own, f"brk:{item_id + 1}:1"),
    ]
    for person, message, data in attempts:
        await person.press(message, data=data)
        answer = await person.expect_callback_answer()
        assert "Send the command again" in answer.params["text"], data
    # A press on a message in a group: no staff handler takes it, nothing happens.
    query_update = tg.callback_query(ann.user_id, group_message, send)
    tg.queue_update(query_update)

    # An editor demoted since: their own old Send button no longer works.
    assert "no longer an editor" in (await admin.ask(f"/editor remove {EDITOR}"))["text"]
    before_demoted = table_dump(bot)
    await editor.press(stored, data=send)
    answer = await editor.expect_callback_answer()
    assert "Send the command again" in answer.params["text"]
    await ann.barrier()

    edits = [c.brief() for c in tg.calls[mark:] if c.method.startswith("editMessage")]
    assert edits == []
    assert query(bot, "SELECT status FROM breaking") == [("draft",)]
    assert query(bot, "SELECT count(*) FROM outbox") == [(0,)]
    assert table_dump(bot) == before_demoted
    changed = {table for table in before if before[table] != before_demoted[table]}
    assert changed == {"chats"}  # the demotion, and nothing else
    assert not any("Черновик" in text for text in tg.sent_texts(ann.chat_id))
    assert not any("Черновик" in text for text in tg.sent_texts(CHANNEL))
    assert_clean(tg, bot)
