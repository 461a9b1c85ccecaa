"""The sender's `sendMessage` and `sendPhoto`, cheap enough for 1,000 messages a second.

Profiling a drain of 5,000 messages showed that most of the bot's own time per message
went to aiogram's models around the request: a `SendMessage` model validated and dumped
field by field into a url-encoded form, and the answer validated into a full `Message`
(chat, sender, entities) of which the sender keeps one number. This module sends the same
request as JSON (the Bot API takes both) through the bot's own aiohttp session and reads
`message_id` from the answer. Anything but a successful answer goes through aiogram's own
`check_response`, so errors are the same `TelegramRetryAfter`, `TelegramForbiddenError`,
... classes that the rest of the bot handles, with the same fields.
"""

from __future__ import annotations

import json
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import LinkPreviewOptions
from aiohttp import ClientError, ClientTimeout

_HEADERS = {"Content-Type": "application/json"}


def message_payload(
    chat_id: int,
    text: str,
    *,
    parse_mode: str | None,
    link_preview: dict[str, Any] | None,
    silent: bool,
    thread_id: int | None,
) -> dict[str, Any]:
    """The request's JSON body; fields left unset are left out, as aiogram does.
    `link_preview` is already Bot API JSON (`preview_options`)."""
    payload: dict[str, Any] = {"chat_id": chat_id, "text": text}
    if link_preview is not None:
        payload["link_preview_options"] = link_preview
    return _with_options(payload, parse_mode, silent, thread_id)


def photo_payload(
    chat_id: int,
    photo: str,
    caption: str,
    *,
    parse_mode: str | None,
    silent: bool,
    thread_id: int | None,
) -> dict[str, Any]:
    """sendPhoto's JSON body: `photo` is an http(s) URL Telegram downloads, or a file_id."""
    payload: dict[str, Any] = {"chat_id": chat_id, "photo": photo, "caption": caption}
    return _with_options(payload, parse_mode, silent, thread_id)


def _with_options(
    payload: dict[str, Any], parse_mode: str | None, silent: bool, thread_id: int | None
) -> dict[str, Any]:
    """The options both sends share, set only when they differ from Telegram's default."""
    if parse_mode:
        payload["parse_mode"] = parse_mode
    if silent:
        payload["disable_notification"] = True
    if thread_id is not None:
        payload["message_thread_id"] = thread_id
    return payload


def preview_options(preview: LinkPreviewOptions) -> dict[str, Any]:
    """The options as Bot API JSON: only what was set (aiogram's unset defaults are not
    JSON, and would mean the bot's defaults anyway)."""
    return preview.model_dump(exclude_unset=True, exclude_none=True)


async def send_message(bot: Bot, payload: dict[str, Any], timeout: float) -> int:  # noqa: ASYNC109
    """Send one message; its `message_id`, or the aiogram exception for the answer."""
    return await _send(bot, "sendMessage", payload, timeout)


async def send_photo(bot: Bot, payload: dict[str, Any], timeout: float) -> int:  # noqa: ASYNC109
    """Send one photo with its caption (`photo_payload`); its `message_id`, or the aiogram
    exception for the answer (a refused picture is a `TelegramBadRequest`)."""
    return await _send(bot, "sendPhoto", payload, timeout)


async def _send(bot: Bot, method: str, payload: dict[str, Any], timeout: float) -> int:  # noqa: ASYNC109
    session = bot.session
    if not isinstance(session, AiohttpSession):  # another transport: aiogram's own path
        sent = await bot(_method(method, payload), request_timeout=int(timeout))
        return sent.message_id
    http = await session.create_session()
    url = session.api.api_url(token=bot.token, method=method)
    body = json.dumps(payload, ensure_ascii=False).encode()
    try:
        async with http.post(
            url, data=body, headers=_HEADERS, timeout=ClientTimeout(total=timeout)
        ) as response:
            status, content = response.status, await response.text()
    except TimeoutError as error:
        raise TelegramNetworkError(_method(method, payload), "Request timeout error") from error
    except ClientError as error:
        detail = f"{type(error).__name__}: {error}"
        raise TelegramNetworkError(_method(method, payload), detail) from error
    if status == 200:
        try:
            answer = json.loads(content)
            if answer.get("ok"):
                return int(answer["result"]["message_id"])
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # not what Telegram sends: let aiogram say what is wrong
    session.check_response(bot, _method(method, payload), status, content)  # raises
    raise TelegramNetworkError(_method(method, payload), f"unexpected answer (HTTP {status})")


def _method(method: str, payload: dict[str, Any]) -> SendMessage | SendPhoto:
    """The method object aiogram's exceptions carry; built only on the error path."""
    return SendPhoto(**payload) if method == "sendPhoto" else SendMessage(**payload)

