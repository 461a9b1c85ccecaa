"""The fake Bot API must behave like Telegram for both raw HTTP and aiogram clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from fake_telegram import FakeTelegram, parse_html
from harness import Reader, buttons, find_button

USER = 1001


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest_asyncio.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    client = Bot(tg.token, session=session)
    try:
        yield client
    finally:
        await client.session.close()


async def call(
    http: aiohttp.ClientSession, tg: FakeTelegram, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    """POST urlencoded form fields, JSON-encoding complex values like aiogram does."""
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    async with http.post(f"{tg.base_url}/bot{tg.token}/{method}", data=form) as resp:
        return resp.status, await resp.json()


# ------------------------------------------------------------------ protocol


async def test_get_me_through_aiogram(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == tg.bot_id
    assert me.is_bot
    assert me.username == "regional_news_test_bot"
    assert me.can_join_groups is True
    assert tg.calls_of("getMe")[0].status == 200


async def test_unknown_token_and_method(tg: FakeTelegram, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{tg.base_url}/bot1:wrong/getMe") as resp:
        assert resp.status == 401
        assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    status, body = await call(http, tg, "sendTelepathy", chat_id=1)
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    async with http.get(f"{tg.base_url}/nothing/here") as resp:
        assert resp.status == 404
    assert [c.status for c in tg.calls] == [401, 404]

    wrong = Bot("1:wrong", session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await wrong.get_me()
    finally:
        await wrong.session.close()


async def test_method_names_are_case_insensitive(
    tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, tg, "getme")
    assert status == 200 and body["result"]["id"] == tg.bot_id
    assert tg.calls[-1].method == "getMe"


async def test_every_body_encoding_is_understood(
    tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    markup = {"inline_keyboard": [[{"text": "Open", "callback_data": "open:1"}]]}
    url = f"{tg.base_url}/bot{tg.token}/sendMessage"

    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("chat_id", str(USER))
    form.add_field("text", "multipart")
    form.add_field("reply_markup", json.dumps(markup))
    form.add_field("disable_notification", "true")
    async with http.post(url, data=form) as resp:
        assert resp.status == 200, await resp.text()
    async with http.post(url, data={"chat_id": "-1001234", "text": "urlencoded"}) as resp:
        assert resp.status == 200
    async with http.post(
        url, json={"chat_id": USER, "text": "json", "reply_markup": markup}
    ) as resp:
        assert resp.status == 200
    async with http.get(url, params={"chat_id": str(USER), "text": "query"}) as resp:
        assert resp.status == 200

    sent = tg.calls_of("sendMessage")
    assert [c.params["text"] for c in sent] == ["multipart", "urlencoded", "json", "query"]
    assert sent[0].params == {
        "chat_id": USER,
        "text": "multipart",
        "reply_markup": markup,
        "disable_notification": True,
    }
    assert sent[0].result["reply_markup"] == markup
    assert sent[1].params["chat_id"] == -1001234
    assert sent[1].result["chat"]["type"] == "supergroup"
    assert sent[2].params["reply_markup"] == markup
    assert tg.calls_of("sendMessage", chat_id=USER, text="query")


async def test_aiogram_reply_markup_is_decoded(tg: FakeTelegram, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Economy", callback_data="topic:eco")]]
    )
    message = await bot.send_message(USER, "Pick a topic", reply_markup=keyboard)
    assert message.reply_markup is not None
    assert message.reply_markup.inline_keyboard[0][0].callback_data == "topic:eco"
    (sent,) = tg.calls_of("sendMessage", chat_id=USER)
    assert sent.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Economy", "callback_data": "topic:eco"}]]
    }
    assert buttons(sent.params) == [("Economy", "topic:eco")]
    assert find_button(sent.params, "econ") == ("Economy", "topic:eco")


# --------------------------------------------------------------- long polling


async def test_long_poll_returns_as_soon_as_an_update_is_queued(
    tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    poll = asyncio.ensure_future(call(http, tg, "getUpdates", timeout=30))
    await tg.wait_poll(after=0)
    assert not poll.done()
    update_id = tg.queue_update(tg.private_message(USER, "/start"))
    status, body = await asyncio.wait_for(poll, 5)
    assert time.monotonic() - started < 5
    assert status == 200
    (update,) = body["result"]
    assert update["update_id"] == update_id
    message = update["message"]
    assert message["text"] == "/start"
    assert message["chat"] == {"id": USER, "type": "private", "first_name": "Reader"}
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]


async def test_aiogram_parses_updates(tg: FakeTelegram, bot: Bot) -> None:
    tg.queue_update(tg.private_message(USER, "/digest now", language_code="ru"))
    (update,) = await bot.get_updates(timeout=5)
    assert update.message is not None
    assert update.message.text == "/digest now"
    assert update.message.from_user is not None
    assert update.message.from_user.language_code == "ru"
    assert update.message.entities is not None
    assert update.message.entities[0].type == "bot_command"
    assert update.message.entities[0].length == len("/digest")


async def test_every_update_builder_parses_in_aiogram(tg: FakeTelegram, bot: Bot) -> None:
    tg.queue_update(tg.group_message(USER, -100777, "/help@regional_news_test_bot"))
    tg.queue_update(tg.channel_post(-100888, "post", title="Economy"))
    tg.queue_update(tg.my_chat_member(USER, new_status="kicked"))
    sent = await bot.send_message(USER, "x")
    stored = tg.get_message(USER, sent.message_id)
    assert stored is not None
    tg.queue_update(tg.callback_query(USER, stored, "data"))
    group, post, member, query = await bot.get_updates(
        allowed_updates=["message", "channel_post", "my_chat_member", "callback_query"]
    )
    assert group.message is not None and group.message.chat.type == "supergroup"
    assert group.message.entities is not None
    assert group.message.entities[0].length == len("/help@regional_news_test_bot")
    assert post.channel_post is not None and post.channel_post.chat.title == "Economy"
    assert member.my_chat_member is not None
    assert member.my_chat_member.new_chat_member.status == "kicked"
    assert query.callback_query is not None and query.callback_query.data == "data"


async def test_long_poll_times_out_with_empty_result(
    tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    status, body = await call(http, tg, "getUpdates", timeout=1)
    assert (status, body) == (200, {"ok": True, "result": []})
    assert 0.9 <= time.monotonic() - started < 5


async def test_offset_confirms_and_forgets(tg: FakeTelegram, bot: Bot) -> None:
    ids = [tg.queue_update(tg.private_message(USER, f"m{n}")) for n in range(3)]
    assert tg.pending_updates() == 3

    assert [u.update_id for u in await bot.get_updates()] == ids
    assert tg.pending_updates() == 3  # returning does not confirm

    assert [u.update_id for u in await bot.get_updates(offset=ids[1], limit=1)] == [ids[1]]
    assert tg.pending_updates() == 2

    assert await bot.get_updates(offset=ids[2] + 1) == []
    assert tg.pending_updates() == 0
    await tg.wait_updates_consumed(timeout=1)

    more = [tg.queue_update(tg.private_message(USER, f"n{n}")) for n in range(3)]
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == [more[-1]]
    assert tg.pending_updates() == 1


async def test_wait_updates_consumed_waits_for_the_next_offset(tg: FakeTelegram, bot: Bot) -> None:
    update_id = tg.queue_update(tg.private_message(USER, "hello"))
    waiter = asyncio.ensure_future(tg.wait_updates_consumed(timeout=5))
    await bot.get_updates()
    assert not waiter.done()
    await bot.get_updates(offset=update_id + 1)
    await asyncio.wait_for(waiter, 5)


async def test_allowed_updates_filters_unwanted_types(tg: FakeTelegram, bot: Bot) -> None:
    tg.queue_update(tg.channel_post(-100500, "channel news"))
    kept = tg.queue_update(tg.private_message(USER, "hi"))
    updates = await bot.get_updates(allowed_updates=["message", "callback_query"])
    assert [u.update_id for u in updates] == [kept]
    assert tg.dropped_updates[0]["channel_post"]["text"] == "channel news"


async def test_second_poller_terminates_the_first_with_409(
    tg: FakeTelegram, http: aiohttp.ClientSession, bot: Bot
) -> None:
    first = asyncio.ensure_future(call(http, tg, "getUpdates", timeout=30))
    await tg.wait_poll(after=0)
    second = asyncio.ensure_future(bot.get_updates(timeout=30))
    status, body = await asyncio.wait_for(first, 5)
    assert status == 409
    assert body["description"].startswith("Conflict: terminated by other getUpdates request")
    tg.queue_update(tg.private_message(USER, "x"))
    assert len(await asyncio.wait_for(second, 5)) == 1


async def test_stop_releases_pending_long_poll() -> None:
    tg = FakeTelegram()
    await tg.start()
    async with aiohttp.ClientSession() as http:
        poll = asyncio.ensure_future(call(http, tg, "getUpdates", timeout=60))
        await tg.wait_poll(after=0)
        started = time.monotonic()
        await tg.stop()
        assert await asyncio.wait_for(poll, 5) == (200, {"ok": True, "result": []})
        assert time.monotonic() - started < 5
    assert not tg.errors


async def test_hang_next_delays_until_stop() -> None:
    async with FakeTelegram() as tg, aiohttp.ClientSession() as http:
        tg.hang_next("getMe", 60)
        with pytest.raises(asyncio.TimeoutError):
            async with http.post(
                f"{tg.base_url}/bot{tg.token}/getMe", timeout=aiohttp.ClientTimeout(total=0.3)
            ):
                pass
        # The next call is not delayed.
        assert (await call(http, tg, "getMe"))[0] == 200
        started = time.monotonic()
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- messages


async def test_send_edit_delete_round_trip(tg: FakeTelegram, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="More", callback_data="more")]]
    )
    first = await bot.send_message(
        USER, "<b>Breaking</b> news", parse_mode="HTML", reply_markup=keyboard
    )
    second = await bot.send_message(USER, "second")
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.text == "Breaking news"
    assert first.entities is not None and first.entities[0].type == "bold"
    assert first.from_user is not None and first.from_user.id == tg.bot_id
    assert first.chat.type == "private"
    assert tg.last_message(USER) == tg.messages[USER][-1]

    edited = await bot.edit_message_text(
        "Updated", chat_id=USER, message_id=first.message_id, reply_markup=keyboard
    )
    assert not isinstance(edited, bool)
    assert edited.text == "Updated" and edited.edit_date is not None
    assert tg.messages[USER][0]["text"] == "Updated"

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Updated", chat_id=USER, message_id=first.message_id, reply_markup=keyboard
        )
    # Editing text without reply_markup removes the keyboard, as on Telegram.
    await bot.edit_message_text("Updated", chat_id=USER, message_id=first.message_id)
    assert "reply_markup" not in tg.messages[USER][0]
    await bot.edit_message_reply_markup(
        chat_id=USER, message_id=first.message_id, reply_markup=keyboard
    )
    assert buttons(tg.messages[USER][0]) == [("More", "more")]
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=99)

    assert await bot.delete_message(USER, second.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER, second.message_id)
    assert [m["message_id"] for m in tg.messages[USER]] == [1]
    assert tg.deleted_messages[0]["text"] == "second"


async def test_html_validation(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest) as error:
        await bot.send_message(USER, "Rates <foo> up", parse_mode="HTML")
    assert 'can\'t parse entities: Unsupported start tag "foo" at byte offset 6' in str(error.value)
    bad = [
        "<b>unclosed",
        "<b>x</i>",
        "x</b>",
        "AT&T",
        '<span class="x">s</span>',
        "<a href='x'",
    ]
    for text in bad:
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(USER, text, parse_mode="HTML")
    assert all(c.status == 400 for c in tg.calls_of("sendMessage"))

    message = await bot.send_message(
        USER,
        'AT&amp;T &lt;up&gt; &quot;5%&quot; &#8381; <a href="https://e.com/?a=1&amp;b=2">'
        'link</a> <tg-spoiler>s</tg-spoiler> <pre><code class="language-py">x</code></pre>',
        parse_mode="HTML",
    )
    assert message.text == 'AT&T <up> "5%" ₽ link s x'
    assert message.entities is not None
    kinds = {e.type: e for e in message.entities}
    assert kinds["text_link"].url == "https://e.com/?a=1&b=2"
    assert kinds["pre"].language == "py"
    # Plain text is not HTML-validated.
    await bot.send_message(USER, "AT&T <foo>")


async def test_html_parser_offsets_are_utf16() -> None:
    text, entities = parse_html("😀 <b>Рост</b>")
    assert text == "😀 Рост"
    assert entities == [{"type": "bold", "offset": 3, "length": 4}]


async def test_length_and_empty_checks(tg: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(USER, "я" * 4096)
    await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "<b> </b>", parse_mode="HTML")


async def test_callback_data_limit(tg: FakeTelegram, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "x", reply_markup=keyboard)


async def test_callback_query_round_trip(tg: FakeTelegram, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Subscribe", callback_data="sub:1")]]
    )
    sent = await bot.send_message(USER, "Topic", reply_markup=keyboard)
    stored = tg.last_message(USER)
    assert stored is not None
    tg.queue_update(tg.callback_query(USER, stored, "sub:1"))
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert query is not None and query.data == "sub:1"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query.id, text="Done") is True
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query(query.id)
    assert tg.callback_answers[query.id]["text"] == "Done"


async def test_send_document_multipart(tg: FakeTelegram, bot: Bot) -> None:
    payload = "title;url\nРост;https://e.com\n".encode()
    message = await bot.send_document(
        USER,
        BufferedInputFile(payload, filename="export.csv"),
        caption="<i>Export</i>",
        parse_mode="HTML",
    )
    assert message.document is not None
    assert message.document.file_name == "export.csv"
    assert message.document.file_size == len(payload)
    assert message.caption == "Export"
    (upload,) = tg.uploads
    assert (upload.filename, upload.content) == ("export.csv", payload)
    (call_,) = tg.calls_of("sendDocument")
    assert call_.params["document"] is upload
    assert call_.params["chat_id"] == USER


# PNG signature and an IHDR chunk: enough to be served as image/png.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17


async def test_send_photo_by_url_downloads_it_like_telegram(
    tg: FakeTelegram, bot: Bot, feed_server
) -> None:
    feed_server.serve("/pic.png", PNG, content_type="image/png")
    feed_server.serve("/page.html", b"<html></html>", content_type="text/html")
    feed_server.serve("/gone.png", b"", content_type="image/png", status=404)
    sent = await bot.send_photo(
        USER, feed_server.url("/pic.png"), caption="<b>Рост</b> экспорта", parse_mode="HTML"
    )
    assert sent.photo and sent.caption == "Рост экспорта"
    assert feed_server.hits("/pic.png") == 1
    # The file_id Telegram gave back is a photo it holds: it can be sent again.
    again = await bot.send_photo(USER, sent.photo[-1].file_id)
    assert again.photo
    for url, error in (
        (feed_server.url("/page.html"), "wrong type of the web page content"),
        (feed_server.url("/gone.png"), "failed to get HTTP URL content"),
        ("http://127.0.0.1:9/nothing-listens.png", "failed to get HTTP URL content"),
    ):
        with pytest.raises(TelegramBadRequest, match=error):
            await bot.send_photo(USER, url)


@pytest.mark.parametrize(
    "photo",
    [
        "javascript:alert(1)",
        "ftp://img.example/a.jpg",
        "data:image/png;base64,iVBORw0KGgo=",
        "file:///etc/passwd",
        "not-a-file-id",
        "/relative/a.jpg",
    ],
)
async def test_send_photo_refuses_what_is_neither_a_file_id_nor_an_http_url(
    tg: FakeTelegram, bot: Bot, photo: str
) -> None:
    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await bot.send_photo(USER, photo)
    assert tg.messages[USER] == []


async def test_caption_over_1024_characters_after_entities_is_refused(
    tg: FakeTelegram, bot: Bot, feed_server
) -> None:
    feed_server.serve("/pic.png", PNG, content_type="image/png")
    url = feed_server.url("/pic.png")
    # Markup does not count: 1,024 visible characters inside tags go through.
    fits = "<b>" + "я" * 1000 + "</b>" + "&amp;" * 24
    sent = await bot.send_photo(USER, url, caption=fits, parse_mode="HTML")
    assert sent.caption is not None and len(sent.caption) == 1024
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(USER, url, caption="я" * 1025)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(USER, url, caption="😱" * 513)  # 1,026 UTF-16 units
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.edit_message_caption(
            chat_id=USER,
            message_id=sent.message_id,
            caption="<i>" + "я" * 1025 + "</i>",
            parse_mode="HTML",
        )


async def test_refused_photo_url_and_caption_edits(tg: FakeTelegram, bot: Bot, feed_server) -> None:
    feed_server.serve("/pic.png", PNG, content_type="image/png")
    url = feed_server.url("/pic.png")
    tg.refuse_photo_url(url)
    with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
        await bot.send_photo(USER, url)
    assert feed_server.hits("/pic.png") == 0
    tg.refused_photo_urls.clear()
    sent = await bot.send_photo(USER, url, caption="old")
    edited = await bot.edit_message_caption(chat_id=USER, message_id=sent.message_id, caption="new")
    assert not isinstance(edited, bool) and edited.caption == "new"
    text = await bot.send_message(USER, "text")
    with pytest.raises(TelegramBadRequest, match="there is no caption"):
        await bot.edit_message_caption(chat_id=USER, message_id=text.message_id, caption="x")
    with pytest.raises(TelegramBadRequest, match="there is no text in the message"):
        await bot.edit_message_text("x", chat_id=USER, message_id=sent.message_id)


# ---------------------------------------------------------- commands & chats


async def test_set_my_commands_per_scope_and_language(tg: FakeTelegram, bot: Bot) -> None:
    en = [BotCommand(command="start", description="Start")]
    ru = [BotCommand(command="start", description="Начать")]
    scope = BotCommandScopeAllPrivateChats()
    assert await bot.set_my_commands(en) is True
    assert await bot.set_my_commands(ru, scope=scope, language_code="ru") is True
    assert tg.commands[("default", "")] == [{"command": "start", "description": "Start"}]
    assert tg.commands[("all_private_chats", "ru")] == [
        {"command": "start", "description": "Начать"}
    ]
    got = await bot.get_my_commands(scope=scope, language_code="ru")
    assert [(c.command, c.description) for c in got] == [("start", "Начать")]
    assert await bot.get_my_commands(language_code="de") == []
    (call_,) = tg.calls_of("setMyCommands", language_code="ru")
    assert call_.params["scope"] == {"type": "all_private_chats"}
    await bot.delete_my_commands(scope=scope, language_code="ru")
    assert ("all_private_chats", "ru") not in tg.commands
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])


async def test_get_chat_and_member(tg: FakeTelegram, bot: Bot) -> None:
    tg.register_chat(-1001, "channel", title="Regional economy")
    tg.set_member(-1001, 77, "administrator")
    chat = await bot.get_chat(-1001)
    assert (chat.type, chat.title) == ("channel", "Regional economy")
    assert isinstance(await bot.get_chat_member(-1001, 77), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(-1001, 78), ChatMemberMember)
    assert await bot.send_chat_action(USER, "typing") is True


async def test_webhook_methods(tg: FakeTelegram, bot: Bot) -> None:
    tg.queue_update(tg.private_message(USER, "old"))
    assert (await bot.get_webhook_info()).pending_update_count == 1
    await bot.set_webhook("https://example.com/hook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert tg.pending_updates() == 0
    assert (await bot.get_webhook_info()).url == ""


# ------------------------------------------------------------ fault injection


async def test_error_shapes_are_real_bot_api_json(
    tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    tg.fail_next("sendMessage", retry_after=7)
    status, body = await call(http, tg, "sendMessage", chat_id=USER, text="x")
    assert (status, body) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    tg.fail_next("sendMessage", status=403)
    status, body = await call(http, tg, "sendMessage", chat_id=USER, text="x")
    assert body == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }
    assert tg.count_429 == 1
    assert [c.status for c in tg.calls_of("sendMessage")] == [429, 403]


async def test_aiogram_maps_injected_errors(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail_next("sendMessage", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(USER, "x")
    assert retry.value.retry_after == 3

    tg.block(USER)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "x")
    tg.unblock(USER)

    tg.fail_next("sendMessage", status=400)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(USER, "x")

    for status in (500, 502):
        tg.fail_next("sendMessage", status=status)
        with pytest.raises(TelegramServerError):
            await bot.send_message(USER, "x")

    tg.fail_next("sendMessage", migrate_to_chat_id=-1009)
    with pytest.raises(TelegramMigrateToChat) as migrate:
        await bot.send_message(-5, "x")
    assert migrate.value.migrate_to_chat_id == -1009

    tg.fail_next("getUpdates", status=409)
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()

    tg.fail_next("sendMessage", status=404, description="Not Found")
    with pytest.raises(TelegramNotFound):
        await bot.send_message(USER, "x")

    # Faults are consumed: the next call succeeds, and everything was recorded.
    assert (await bot.send_message(USER, "fine")).text == "fine"
    statuses = [c.status for c in tg.calls_of("sendMessage")]
    assert statuses == [429, 403, 400, 500, 502, 400, 404, 200]


async def test_faults_can_target_one_chat_and_repeat(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail_next("sendMessage", status=403, chat_id=2002, times=2)
    await bot.send_message(USER, "other chat unaffected")
    for _ in range(2):
        with pytest.raises(TelegramForbiddenError):
            await bot.send_message(2002, "x")
    await bot.send_message(2002, "recovered")


async def test_rate_limit_emulation(tg: FakeTelegram, bot: Bot) -> None:
    tg.enforce_limits(per_chat_per_second=1, per_group_per_minute=2, global_per_second=30)
    await bot.send_message(USER, "one")
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(USER, "two")
    assert retry.value.retry_after == 1
    await bot.send_message(USER + 1, "another chat is fine")
    assert tg.count_429 == 1

    await bot.send_message(-100, "g1")
    tg.disable_limits()
    await bot.send_message(-100, "unlimited again")


async def test_group_limit_window_is_a_minute(tg: FakeTelegram, bot: Bot) -> None:
    tg.enforce_limits(per_chat_per_second=100, per_group_per_minute=2)
    await bot.send_message(-100, "g1")
    await bot.send_message(-100, "g2")
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(-100, "g3")
    assert 55 <= retry.value.retry_after <= 60


async def test_latency_holds_the_answer_and_judges_limits_on_arrival(
    tg: FakeTelegram, bot: Bot
) -> None:
    """Telegram is a round trip away: the message exists (and counts against the limits)
    when the request arrives; the answer comes back later."""
    tg.set_latency(0.2, 0.05, seed=7)
    tg.enforce_limits(per_chat_per_second=1, global_per_second=30)
    started = time.monotonic()
    first = asyncio.create_task(bot.send_message(USER, "one"))
    await tg.wait_for("sendMessage", lambda c: c.params["chat_id"] == USER)
    assert not first.done()  # arrived and recorded, answer still on its way
    assert tg.in_flight == 1 and tg.last_message(USER)["text"] == "one"
    # A second request to the chat while the first is in flight: judged on arrival.
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(USER, "two")
    await first
    assert time.monotonic() - started >= 0.15
    (call,) = [c for c in tg.calls_of("sendMessage") if c.ok]
    # Never early. How late depends on the machine's load, so only the drawn delay is
    # judged for its bounds.
    assert 0.15 <= call.delay <= 0.25
    assert call.answered is not None and call.answered - call.at >= call.delay - 0.002
    assert tg.max_in_flight == 2 and tg.max_in_flight_per_chat == 2
    assert tg.in_flight == 0


async def test_latency_is_seeded_and_within_its_jitter(tg: FakeTelegram, bot: Bot) -> None:
    """The drawn delays are judged, not the wall clock: a loaded CI machine once held the
    whole loop 0.3 s, so an answer's lateness says nothing about the fake."""
    tg.set_latency(0.1, 0.05, seed=3)
    await asyncio.gather(*(bot.send_message(USER + n, str(n)) for n in range(8)))
    calls = tg.calls_of("sendMessage")
    drawn = [c.delay for c in calls]
    assert all(0.05 <= d <= 0.15 for d in drawn), drawn
    assert max(drawn) - min(drawn) > 0.005  # jitter, not one fixed delay
    # Never early: each answer waited at least its drawn delay.
    assert all(c.answered is not None and c.answered - c.at >= c.delay - 0.002 for c in calls)
    # Seeded: the same seed draws the same delays again.
    tg.set_latency(0.1, 0.05, seed=3)
    mark = tg.mark()
    await asyncio.gather(*(bot.send_message(USER + n, str(n)) for n in range(8)))
    assert sorted(c.delay for c in tg.calls[mark:]) == sorted(drawn)
    assert tg.max_in_flight == 8 and tg.max_in_flight_per_chat == 1
    with pytest.raises(ValueError):
        tg.set_latency(0.1, 0.2)


# --------------------------------------------------------------- waiting API


async def test_wait_for_sees_later_calls_and_reports_on_timeout(tg: FakeTelegram, bot: Bot) -> None:
    mark = tg.mark()
    waiter = asyncio.ensure_future(
        tg.wait_for("sendMessage", lambda c: c.params["text"] == "b", after=mark, timeout=5)
    )
    await bot.send_message(USER, "a")
    await bot.send_message(USER, "b")
    found = await waiter
    assert found.index == mark + 1 and found.result["text"] == "b"

    with pytest.raises(AssertionError, match="no sendMessage call") as error:
        await tg.wait_for("sendMessage", after=tg.mark(), timeout=0.2)
    assert "sendMessage [200]" in str(error.value)


# ------------------------------------------------------------------ readers


async def test_reader_expectations_and_press(tg: FakeTelegram, bot: Bot) -> None:
    reader = Reader(tg, USER, language_code="ru", first_name="Anna")
    await reader.send("/start")
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.from_user is not None
    assert update.message.from_user.first_name == "Anna"

    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Экономика ✅", callback_data="t:eco")],
            [InlineKeyboardButton(text="Site", url="https://example.com")],
        ]
    )
    await bot.send_message(USER, "Hello", reply_markup=keyboard)
    await bot.send_message(USER + 1, "not for Anna")
    await bot.send_message(USER, "Second")
    params = await reader.expect_message()
    assert params["text"] == "Hello"
    assert (await reader.expect_message(contains="Sec"))["text"] == "Second"

    query_id = await reader.press(params, "Экономика")
    (update,) = await bot.get_updates(offset=update.update_id + 1)
    assert update.callback_query is not None
    assert update.callback_query.id == query_id
    assert update.callback_query.data == "t:eco"
    assert update.callback_query.from_user.language_code == "ru"
    assert update.callback_query.message is not None
    assert update.callback_query.message.message_id == 2  # /start was message 1

    await bot.answer_callback_query(query_id)
    answer = await reader.expect_callback_answer()
    assert answer.params["callback_query_id"] == query_id
    await bot.edit_message_reply_markup(chat_id=USER, message_id=2)
    edit = await reader.expect_edit()
    assert edit.method == "editMessageReplyMarkup"
    with pytest.raises(AssertionError, match="not found"):
        await reader.press(params, "Экономика")  # keyboard was removed by the edit
    with pytest.raises(AssertionError):
        await reader.expect_message(timeout=0.2)
