# ruff: noqa: ASYNC109 - the test API takes timeout= like asyncio.wait_for does.
"""A fake Telegram Bot API server for end-to-end tests.

The real bot runs as a subprocess and talks HTTP to this server exactly as it would
talk to api.telegram.org (``POST {base}/bot{token}/{method}``), so the whole stack
(aiogram session, JSON parsing, error classes, retries) is exercised.  The server
lives in the test's event loop; tests inspect ``tg.calls`` and await ``tg.wait_for``
instead of sleeping.

Deliberate simplifications (documented so nobody mistakes them for Telegram facts):

* HTML validation follows tdlib's rules in a reduced form and is *stricter* about
  ``&``: a bare ampersand that does not start ``&lt; &gt; &amp; &quot;`` or a numeric
  reference is rejected (Telegram keeps it literally), because unescaped text from
  feeds is exactly the bug we want to catch.
* Message length is counted in code points after entity parsing (as tdlib does),
  entity offsets in UTF-16 units (as the Bot API does).
* ``editMessageText`` without ``reply_markup`` removes the inline keyboard, like Telegram.

Latency (``set_latency``). Telegram is a round trip away: from a server a ``sendMessage``
is answered 50-300 ms after it left. The fake handles a request the moment it arrives
(rate limits are judged then, the message exists then, and the call is recorded with
``at`` = arrival) and holds the answer back for the configured delay, with jitter. What
is in progress is counted: ``max_in_flight`` (sends, edits, deletions at once) and
``max_in_flight_per_chat`` (two at once to one chat would be a bug in the bot).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import itertools
import json
import logging
import math
import random
import re
import time
import traceback
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

log = logging.getLogger("fake_telegram")

DEFAULT_TOKEN = "123456789:AAH-fake-token-for-tests-0123456789ab"
MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
# sendPhoto by URL (Bot API "Sending files"): Telegram downloads at most 5 MB for a photo.
MAX_PHOTO_URL_BYTES = 5 * 1024 * 1024
PHOTO_BAD_ID = "Bad Request: wrong file identifier/HTTP URL specified"
PHOTO_NO_CONTENT = "Bad Request: failed to get HTTP URL content"
PHOTO_WRONG_TYPE = "Bad Request: wrong type of the web page content"
MAX_CALLBACK_DATA_BYTES = 64

CONFLICT_POLLING = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply "
    "markup are exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"

# Parameter decoding: aiogram sends everything as form fields, complex values as JSON.
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "commands",
        "scope",
        "entities",
        "caption_entities",
        "link_preview_options",
        "allowed_updates",
        "reply_parameters",
        "media",
        "results",
        "options",
        "menu_button",
        "rights",
    }
)
INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "message_thread_id",
        "user_id",
        "from_chat_id",
        "reply_to_message_id",
        "cache_time",
        "max_connections",
        "until_date",
    }
)
BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "for_channels",
        "revoke_messages",
        "only_if_banned",
        "has_spoiler",
        "show_caption_above_media",
        "allow_paid_broadcast",
    }
)

# Update types Telegram does not send unless explicitly listed in allowed_updates.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Methods that put something into a chat: subject to block() and enforce_limits().
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)
BLOCKABLE_METHODS = SEND_METHODS | {
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
    "sendChatAction",
}

# Requests a bot paces per chat (sends, edits, deletions): counted while in flight.
PACED_METHODS = SEND_METHODS | {"editMessageText", "editMessageCaption", "deleteMessage"}

_DEFAULT_FAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: CONFLICT_POLLING,
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_INT_RE = re.compile(r"-?\d+")
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


# --------------------------------------------------------------------------- records


@dataclass
class ApiCall:
    """One request the fake handled (recorded when it arrived and was handled).

    ``at`` is ``time.monotonic()`` on arrival, when Telegram judges limits and the message
    appears in the chat; ``answered`` is when the answer left (later by the latency, None
    while it is held back); ``delay`` is the latency drawn for it, which ``answered`` can
    only exceed (by a loaded loop's lateness); ``index`` is the position in
    ``FakeTelegram.calls`` so cursors can continue after it.
    """

    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float
    index: int = -1
    answered: float | None = None
    delay: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        return self.response.get("description")

    def brief(self) -> str:
        """One line for failure messages."""
        shown = {k: v for k, v in self.params.items() if k not in {"reply_markup", "entities"}}
        text = json.dumps(shown, ensure_ascii=False, default=str)
        if len(text) > 160:
            text = text[:157] + "..."
        extra = "" if self.ok else f" {self.description!r}"
        if self.method == "getUpdates" and self.ok:
            extra = f" -> {len(self.result)} update(s)"
        return f"#{self.index} {self.method} [{self.status}] {text}{extra}"


@dataclass
class UploadedFile:
    """A file the bot uploaded with multipart/form-data."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"
    file_id: str = ""

    def __repr__(self) -> str:
        return f"UploadedFile({self.filename!r}, {len(self.content)} bytes, {self.content_type!r})"


@dataclass
class RateLimits:
    """Telegram's documented broadcast limits (see enforce_limits)."""

    per_chat_per_second: int = 1
    per_group_per_minute: int = 20
    global_per_second: int = 30


@dataclass
class _Fault:
    status: int
    description: str
    parameters: dict[str, Any] | None
    times: int
    chat_id: int | str | None
    until: float | None = None  # fail_for: a time window (monotonic) instead of a count


class ApiError(Exception):
    """Raised inside method implementations; becomes a Bot API error answer."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


# ------------------------------------------------------------------------ HTML parse


class HtmlParseError(ValueError):
    """Text is not valid Telegram HTML; the message mirrors tdlib's wording."""


_ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-spoiler",
        "span",
        "tg-emoji",
    }
)
_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,8})|#[xX]([0-9a-fA-F]{1,8}));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of Bot API entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_html_entity(match: re.Match[str]) -> str | None:
    named, dec, hexa = match.groups()
    if named:
        return _NAMED_ENTITIES[named]
    code = int(dec) if dec else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _parse_tag_attributes(text: str, pos: int, tag_start: int) -> tuple[dict[str, str], int]:
    """Parse ``name="value"`` pairs up to ``>``; return them and the index after ``>``."""
    attrs: dict[str, str] = {}
    n = len(text)
    unclosed = HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(text, tag_start)}")
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            raise unclosed
        if text[pos] == ">":
            return attrs, pos + 1
        if text.startswith("/>", pos):
            return attrs, pos + 2
        name_start = pos
        while pos < n and not text[pos].isspace() and text[pos] not in "=>":
            pos += 1
        name = text[name_start:pos].lower()
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            raise unclosed
        if text[pos] != "=":
            attrs[name] = ""
            continue
        pos += 1
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            raise unclosed
        if text[pos] in "\"'":
            quote = text[pos]
            end = text.find(quote, pos + 1)
            if end == -1:
                raise unclosed
            value = text[pos + 1 : end]
            pos = end + 1
        else:
            value_start = pos
            while pos < n and not text[pos].isspace() and text[pos] != ">":
                pos += 1
            value = text[value_start:pos]
        attrs[name] = html.unescape(value)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Turn Telegram HTML into (plain text, entities) or raise HtmlParseError."""
    out: list[str] = []
    out_len16 = 0
    # Open tags: (name, utf16 offset where it starts, attributes).
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            match = _HTML_ENTITY_RE.match(text, i)
            decoded = _decode_html_entity(match) if match else None
            if match is None or decoded is None:
                snippet = text[i : i + 8].split()[0]
                raise HtmlParseError(
                    f'Unsupported HTML entity "{snippet}" at byte offset '
                    f'{_byte_offset(text, i)}: escape "&" as "&amp;"'
                )
            out.append(decoded)
            out_len16 += utf16_len(decoded)
            i = match.end()
            continue
        if ch != "<":
            out.append(ch)
            out_len16 += 2 if ord(ch) > 0xFFFF else 1
            i += 1
            continue
        tag_start = i
        if text.startswith("</", i):
            end = text.find(">", i + 2)
            if end == -1:
                raise HtmlParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(text, tag_start)}"
                )
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise HtmlParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(text, tag_start)}"
                )
            open_name, begin, attrs = stack.pop()
            if name and name != open_name:
                raise HtmlParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, tag_start)}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            _close_entity(open_name, begin, out_len16, attrs, stack, entities)
            i = end + 1
            continue
        j = i + 1
        while j < n and not text[j].isspace() and text[j] not in ">/":
            j += 1
        if j >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(text, i)}")
        name = text[i + 1 : j].lower()
        if name not in _ALLOWED_TAGS:
            raise HtmlParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, i)}'
            )
        attrs, j = _parse_tag_attributes(text, j, tag_start)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(text, tag_start)}"
            )
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise HtmlParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
                f"{_byte_offset(text, tag_start)}"
            )
        stack.append((name, out_len16, attrs))
        i = j
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_entity(
    name: str,
    begin: int,
    end: int,
    attrs: dict[str, str],
    stack: list[tuple[str, int, dict[str, str]]],
    entities: list[dict[str, Any]],
) -> None:
    if end <= begin:
        return
    if name == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is one pre entity with a language.
        language = attrs.get("class", "").removeprefix("language-")
        if language:
            stack[-1][2]["__language"] = language
        return
    entity: dict[str, Any] = {"type": _TAG_ENTITY[name], "offset": begin, "length": end - begin}
    if name == "a":
        if not attrs.get("href"):
            return
        entity["url"] = attrs["href"]
    elif name == "pre" and attrs.get("__language"):
        entity["language"] = attrs["__language"]
    elif name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        entity["custom_emoji_id"] = attrs["emoji-id"]
    entities.append(entity)


# ------------------------------------------------------------------ param decoding


def normalize_params(params: dict[str, Any]) -> dict[str, Any]:
    """Decode JSON fields, digit-string ids and "true"/"false" flags in place."""
    for key, value in list(params.items()):
        if not isinstance(value, str):
            continue
        if key in JSON_FIELDS and value.strip()[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
        elif key in INT_FIELDS and _INT_RE.fullmatch(value.strip()):
            params[key] = int(value)
        elif key in BOOL_FIELDS and value.lower() in ("true", "false"):
            params[key] = value.lower() == "true"
    return params


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram attaches to a message starting with '/'."""
    if not text.startswith("/") or len(text) < 2:
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


# ------------------------------------------------------------------------ the fake


class FakeTelegram:
    """In-process Bot API server with recording, fault injection and update queueing."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_id: int = 123456789,
        username: str = "regional_news_test_bot",
        *,
        first_name: str = "Regional News Test",
        strict_chats: bool = False,
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.username = username
        # strict_chats: sending to a chat never seen (no update from it, not
        # registered) answers 400 "chat not found", as Telegram would.
        self.strict_chats = strict_chats
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }

        self.calls: list[ApiCall] = []
        self.errors: list[str] = []  # tracebacks of bugs inside the fake itself
        self.messages: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        self.deleted_messages: list[dict[str, Any]] = []
        self.uploads: list[UploadedFile] = []
        self.user_files: dict[str, UploadedFile] = {}  # file_id -> a file a user sent
        self.photo_ids: set[str] = set()  # file_ids of photos Telegram holds (sent or received)
        self.refused_photo_urls: dict[str, str] = {}  # URL -> the 400 description sendPhoto gives
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.bot_properties: dict[tuple[str, str], str] = {}  # (name, language) -> value
        self.chats: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.chat_members: dict[tuple[int, int], str] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.dropped_updates: list[dict[str, Any]] = []  # filtered by allowed_updates
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        # The reverse proxy in front of the bot: webhook deliveries go to this base URL
        # (http://127.0.0.1:PORT) with the registered URL's path; None: no delivery.
        # Where webhook posts go instead of the registered URL: one base URL, or several
        # taken in turn per post, as a load balancer in front of replicas would.
        self.webhook_proxy: str | list[str] | None = None
        self._proxy_turn = 0
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status or 0)
        self._webhook_task: asyncio.Task[None] | None = None
        self.count_429 = 0

        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(100_000_001)
        self._allowed_updates: frozenset[str] | None = None
        self._polls_received = 0
        self._active_poll = 0
        self._message_ids: defaultdict[int, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1)
        )
        self._query_ids = itertools.count(4_200_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._queries: dict[str, dict[str, Any]] = {}
        self._faults: defaultdict[str, deque[_Fault]] = defaultdict(deque)
        self._hangs: defaultdict[str, deque[float]] = defaultdict(deque)
        self._resets: defaultdict[str, int] = defaultdict(int)
        self.hung: list[tuple[str, dict[str, Any], float]] = []  # (method, params, since)
        self._blocked: set[int | str] = set()
        self._limits: RateLimits | None = None
        self._send_times: defaultdict[object, deque[float]] = defaultdict(deque)
        self._latency = 0.0
        self._jitter = 0.0
        self._random = random.Random(0)
        self.in_flight = 0  # PACED_METHODS handled whose answer has not left yet
        self.max_in_flight = 0
        self._in_flight_chats: defaultdict[object, int] = defaultdict(int)
        self.max_in_flight_per_chat = 0

        self._change = asyncio.Event()
        self._stop_event = asyncio.Event()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

        handlers: list[tuple[str, Callable[[dict[str, Any]], Awaitable[Any]]]] = [
            ("getMe", self._get_me),
            ("getUpdates", self._get_updates),
            ("deleteWebhook", self._delete_webhook),
            ("setWebhook", self._set_webhook),
            ("getWebhookInfo", self._get_webhook_info),
            ("logOut", self._return_true),
            ("close", self._return_true),
            ("sendMessage", self._send_message),
            ("editMessageText", self._edit_message_text),
            ("editMessageReplyMarkup", self._edit_message_reply_markup),
            ("editMessageCaption", self._edit_message_caption),
            ("deleteMessage", self._delete_message),
            ("deleteMessages", self._delete_messages),
            ("answerCallbackQuery", self._answer_callback_query),
            ("setMyCommands", self._set_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("sendDocument", self._send_document),
            ("sendPhoto", self._send_photo),
            ("getChat", self._get_chat),
            ("getChatMember", self._get_chat_member),
            ("getFile", self._get_file),
            ("sendChatAction", self._return_true),
            ("setMyDescription", self._set_bot_property("description")),
            ("getMyDescription", self._get_bot_property("description")),
            ("setMyShortDescription", self._set_bot_property("short_description")),
            ("getMyShortDescription", self._get_bot_property("short_description")),
            ("setMyName", self._set_bot_property("name")),
            ("getMyName", self._get_bot_property("name")),
            ("setChatMenuButton", self._return_true),
            ("pinChatMessage", self._return_true),
            ("unpinChatMessage", self._return_true),
            ("unpinAllChatMessages", self._return_true),
            ("leaveChat", self._return_true),
        ]
        self._handlers = {name.lower(): (name, handler) for name, handler in handlers}

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start serving."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._serve_file)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"
        self._webhook_task = asyncio.create_task(self._deliver_webhooks())
        log.debug("fake Telegram listening on %s", self._base_url)

    async def stop(self) -> None:
        """Release long polls and hung calls, then shut the server down."""
        if self._runner is None:
            return
        self._stopping = True
        if self._webhook_task is not None:
            # Cancelled before the wake-up below: asyncio.wait_for (3.11) can swallow a
            # cancel that lands as its event fires; the loop also checks _stopping.
            self._webhook_task.cancel()
        self._stop_event.set()
        self._notify()
        if self._webhook_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._base_url

    # ----------------------------------------------------------- waiting & records

    def _notify(self) -> None:
        """Wake every waiter: they re-check their condition (sync-safe, no lock)."""
        event, self._change = self._change, asyncio.Event()
        event.set()

    async def _wait_until(self, check: Callable[[], Any], timeout: float) -> Any:
        """Return check()'s first non-None value, or None when timeout passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = check()
            if value is not None:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            event = self._change
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def mark(self) -> int:
        """Position in ``calls``; pass it as ``after=`` to only see later answers."""
        return len(self.calls)

    def calls_of(self, method: str, **match: Any) -> list[ApiCall]:
        """Recorded calls of ``method`` whose params equal every ``match`` item."""
        return [
            call
            for call in self.calls
            if call.method == method
            and all(call.params.get(key) == value for key, value in match.items())
        ]

    def sent_texts(self, chat_id: int) -> list[str]:
        """Texts (as sent, i.e. raw HTML) of successful sendMessage calls to a chat."""
        return [
            c.params.get("text", "") for c in self.calls_of("sendMessage", chat_id=chat_id) if c.ok
        ]

    def find_call(
        self,
        method: str | Iterable[str] | None,
        predicate: Callable[[ApiCall], bool] | None = None,
        *,
        after: int = 0,
    ) -> ApiCall | None:
        """First recorded call at index >= after matching method and predicate."""
        methods = {method} if isinstance(method, str) else None if method is None else set(method)
        for call in self.calls[after:]:
            if methods is not None and call.method not in methods:
                continue
            if predicate is None or predicate(call):
                return call
        return None

    async def wait_for(
        self,
        method: str | Iterable[str] | None,
        predicate: Callable[[ApiCall], bool] | None = None,
        *,
        timeout: float = 10.0,
        after: int = 0,
    ) -> ApiCall:
        """Wait for a matching call (see find_call); AssertionError with context on timeout."""
        if method is not None and not isinstance(method, str):
            method = tuple(method)
        call = await self._wait_until(
            lambda: self.find_call(method, predicate, after=after), timeout
        )
        if call is None:
            what = "/".join(method) if isinstance(method, tuple) else method or "API"
            raise AssertionError(
                f"no {what} call matching the predicate within {timeout}s "
                f"(after #{after}).\n{self.summary()}"
            )
        return call

    def summary(self, last: int = 25) -> str:
        """Human-readable recent history, skipping empty long-poll answers."""
        interesting = [
            c for c in self.calls if not (c.method == "getUpdates" and c.ok and not c.result)
        ]
        lines = [c.brief() for c in interesting[-last:]]
        header = (
            f"fake Telegram: {len(self.calls)} call(s), {self._polls_received} getUpdates "
            f"received, {self.pending_updates()} update(s) pending, "
            f"{len(self.errors)} internal error(s). Recent calls:"
        )
        return "\n".join([header, *(f"  {line}" for line in lines or ["(none)"])])

    @property
    def poll_count(self) -> int:
        """Number of getUpdates requests *received* so far (counted on arrival)."""
        return self._polls_received

    async def wait_poll(self, after: int = 0, timeout: float = 10.0) -> None:
        """Wait until more than ``after`` getUpdates requests have arrived."""
        ok = await self._wait_until(lambda: True if self._polls_received > after else None, timeout)
        if ok is None:
            raise AssertionError(
                f"no getUpdates request arrived within {timeout}s.\n{self.summary()}"
            )

    # --------------------------------------------------------------- update queue

    def queue_update(self, update: dict[str, Any]) -> int:
        """Give the update the next update_id, queue it and wake waiting getUpdates."""
        update_id = next(self._update_ids)
        update["update_id"] = update_id
        self._updates.append(update)
        self._notify()
        return update_id

    def pending_updates(self) -> int:
        """Queued updates not yet confirmed with a getUpdates offset."""
        return len(self._updates)

    async def wait_updates_consumed(self, timeout: float = 10.0) -> None:
        """Wait until the bot confirmed (fetched) every queued update."""
        ok = await self._wait_until(lambda: True if not self._updates else None, timeout)
        if ok is None:
            raise AssertionError(
                f"{len(self._updates)} update(s) still unconfirmed after {timeout}s.\n"
                f"{self.summary()}"
            )

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        before = len(self._updates)
        if offset < 0:
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if len(self._updates) != before:
            self._notify()

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        allowed = self._allowed_updates
        kept: list[dict[str, Any]] = []
        for update in self._updates:
            kind = next((k for k in update if k != "update_id"), "")
            wanted = kind not in OPT_IN_UPDATES if allowed is None else kind in allowed
            if wanted:
                kept.append(update)
            else:
                self.dropped_updates.append(update)
                log.debug("dropping %s update: not in allowed_updates %s", kind, allowed)
        if len(kept) != len(self._updates):
            self._updates = kept
            self._notify()
        return kept[:limit]

    # ------------------------------------------------------------- registries

    def register_user(
        self,
        user_id: int,
        *,
        first_name: str = "Reader",
        language_code: str | None = "en",
        username: str | None = None,
        last_name: str | None = None,
    ) -> dict[str, Any]:
        """Remember a user (and their private chat) so updates and getChat agree."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": first_name}
        if last_name:
            chat["last_name"] = last_name
        if username:
            chat["username"] = username
        self.chats[user_id] = chat
        return dict(user)

    def register_chat(
        self,
        chat_id: int,
        chat_type: str = "supergroup",
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """Declare a chat's type/title (negative ids default to a supergroup)."""
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name or "Reader"
        else:
            chat["title"] = title or f"Test {chat_type} {chat_id}"
        if username:
            chat["username"] = username
        self.chats[chat_id] = chat
        return dict(chat)

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        """getChatMember answer: creator, administrator, member, restricted, left, kicked."""
        self.chat_members[(chat_id, user_id)] = status

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        """Chat object for a chat_id param, or 400 like Telegram."""
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if isinstance(chat_id, str):
            for chat in self.chats.values():
                if chat_id.startswith("@") and chat.get("username") == chat_id[1:]:
                    return dict(chat)
            raise _bad("chat not found")
        if chat_id in self.chats:
            return dict(self.chats[chat_id])
        if self.strict_chats:
            raise _bad("chat not found")
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Reader"}
        return {"id": chat_id, "type": "supergroup", "title": f"Test supergroup {chat_id}"}

    def _user_obj(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_id:
            return dict(self.bot_user)
        return dict(
            self.users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "Reader"}
        )

    # ------------------------------------------------------------ update builders

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids[chat_id])

    def private_message(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str | None = "en",
        first_name: str = "Reader",
        username: str | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """Update with a private text message from a user (not queued yet)."""
        user = self.register_user(
            user_id, first_name=first_name, language_code=language_code, username=username
        )
        chat = dict(self.chats[user_id])
        if chat_id is not None and chat_id != user_id:
            chat = {**chat, "id": chat_id}
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if entities := command_entities(text):
            message["entities"] = entities
        return {"message": message}

    def private_photo(
        self,
        user_id: int,
        caption: str | None = None,
        *,
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        """Update with a photo a user sends in a private chat, `caption` under it. The
        photo's file_id is one Telegram holds: sendPhoto takes it back."""
        user = self.register_user(user_id, language_code=language_code)
        sizes = []
        for width, height in ((90, 60), (800, 533)):
            file_id, unique_id = self._new_file_id("Ag")
            self.photo_ids.add(file_id)
            sizes.append(
                {
                    "file_id": file_id,
                    "file_unique_id": unique_id,
                    "width": width,
                    "height": height,
                    "file_size": width * height // 10,
                }
            )
        return self._private_media(user, "photo", sizes, caption)

    def _private_media(
        self, user: dict[str, Any], kind: str, media: Any, caption: str | None
    ) -> dict[str, Any]:
        """The update of a photo or file in the user's private chat, `caption` under it
        (a command in it gets its entity, as in a text)."""
        message: dict[str, Any] = {
            "message_id": self._next_message_id(user["id"]),
            "from": user,
            "chat": dict(self.chats[user["id"]]),
            "date": int(time.time()),
            kind: media,
        }
        if caption is not None:
            message["caption"] = caption
            if entities := command_entities(caption):
                message["caption_entities"] = entities
        return {"message": message}

    def group_message(
        self,
        user_id: int,
        chat_id: int,
        text: str,
        *,
        chat_type: str = "supergroup",
        title: str | None = None,
        language_code: str | None = "en",
        first_name: str = "Reader",
        username: str | None = None,
    ) -> dict[str, Any]:
        """Update with a message in a group/supergroup (chat registered on first use)."""
        user = self.register_user(
            user_id, first_name=first_name, language_code=language_code, username=username
        )
        if chat_id not in self.chats or title is not None:
            self.register_chat(chat_id, chat_type, title=title)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": user,
            "chat": dict(self.chats[chat_id]),
            "date": int(time.time()),
            "text": text,
        }
        if entities := command_entities(text):
            message["entities"] = entities
        return {"message": message}

    def channel_post(
        self,
        chat_id: int,
        text: str,
        *,
        title: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """Update with a channel post (chat registered as a channel)."""
        if chat_id not in self.chats or title is not None or username is not None:
            self.register_chat(chat_id, "channel", title=title, username=username)
        chat = dict(self.chats[chat_id])
        post: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "sender_chat": chat,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if entities := command_entities(text):
            post["entities"] = entities
        return {"channel_post": post}

    def callback_query(
        self,
        user_id: int,
        message: dict[str, Any],
        data: str,
        *,
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        """Update for a button press on ``message`` (a stored bot message dict)."""
        user = self._user_obj(user_id)
        if language_code:
            user["language_code"] = language_code
        else:
            user.pop("language_code", None)
        query_id = str(next(self._query_ids))
        self._queries[query_id] = {"user_id": user_id, "answered": False}
        chat_id = message["chat"]["id"]
        return {
            "callback_query": {
                "id": query_id,
                "from": user,
                "message": copy.deepcopy(message),
                "chat_instance": str(abs(chat_id) * 7919 + 1_000_003),
                "data": data,
            }
        }

    def private_document(
        self,
        user_id: int,
        content: bytes,
        filename: str,
        *,
        caption: str | None = None,
        mime_type: str = "application/octet-stream",
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        """Update with a file a user sends in a private chat (getFile serves it)."""
        user = self.register_user(user_id, language_code=language_code)
        file_id, unique_id = self._new_file_id("BQ")
        self.user_files[file_id] = UploadedFile(filename, content, mime_type, file_id)
        document = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_name": filename,
            "mime_type": mime_type,
            "file_size": len(content),
        }
        return self._private_media(user, "document", document, caption)

    def my_chat_member(
        self,
        user_id: int,
        *,
        chat_id: int | None = None,
        old_status: str = "member",
        new_status: str = "kicked",
    ) -> dict[str, Any]:
        """Update telling the bot its own membership changed (e.g. user blocked it)."""
        chat = self._chat(chat_id if chat_id is not None else user_id)
        return {
            "my_chat_member": {
                "chat": chat,
                "from": self._user_obj(user_id),
                "date": int(time.time()),
                "old_chat_member": self._member_obj(old_status, dict(self.bot_user)),
                "new_chat_member": self._member_obj(new_status, dict(self.bot_user)),
            }
        }

    # ---------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (for ``chat_id`` only, if given)
        with an error.  status defaults to 429 with retry_after, 400 with
        migrate_to_chat_id, otherwise 500."""
        if status is None:
            status = 429 if retry_after is not None else 400 if migrate_to_chat_id else 500
        parameters: dict[str, Any] | None = None
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            parameters = {"retry_after": retry_after}
            default = f"Too Many Requests: retry after {retry_after}"
        elif migrate_to_chat_id is not None:
            parameters = {"migrate_to_chat_id": migrate_to_chat_id}
            default = "Bad Request: group chat was upgraded to a supergroup chat"
        else:
            default = _DEFAULT_FAULT_DESCRIPTIONS.get(
                status, "Internal Server Error" if status >= 500 else "Bad Request"
            )
        self._faults[method].append(
            _Fault(status, description or default, parameters, times, chat_id)
        )

    def fail_for(
        self,
        method: str,
        seconds: float,
        *,
        status: int = 502,
        description: str | None = None,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer every call of ``method`` (for ``chat_id`` only, if given) with an error
        for the next ``seconds``: an outage in time, however often the client retries."""
        default = _DEFAULT_FAULT_DESCRIPTIONS.get(status, "Internal Server Error")
        fault = _Fault(status, description or default, None, 1, chat_id)
        fault.until = time.monotonic() + seconds
        self._faults[method].append(fault)

    def reset_next(self, method: str, times: int = 1) -> None:
        """Close the connection of the next ``times`` calls of ``method`` without any HTTP
        answer (the call never reaches the handler; recorded with status 0)."""
        self._resets[method] += times

    def clear_faults(self) -> None:
        """Forget pending fail_next/fail_for/hang_next/reset_next injections."""
        self._faults.clear()
        self._hangs.clear()
        self._resets.clear()

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: sends/edits to this chat answer 403 until unblock."""
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def enforce_limits(
        self,
        per_chat_per_second: int = 1,
        per_group_per_minute: int = 20,
        global_per_second: int = 30,
    ) -> None:
        """Answer 429 with retry_after when sends exceed Telegram's broadcast limits
        (sliding windows: 1 s per chat, 60 s per group/channel, 1 s globally)."""
        self._limits = RateLimits(per_chat_per_second, per_group_per_minute, global_per_second)
        self._send_times.clear()

    def disable_limits(self) -> None:
        self._limits = None

    def set_latency(self, seconds: float, jitter: float = 0.0, *, seed: int = 0) -> None:
        """Answer every call ``seconds`` (uniformly +- ``jitter``) after it arrived, as
        Telegram does from across the network. Seeded: a run's delays repeat."""
        if seconds < 0 or jitter < 0 or jitter > seconds:
            raise ValueError("latency and jitter must be >= 0, jitter at most the latency")
        self._latency, self._jitter = seconds, jitter
        self._random = random.Random(seed)

    def reset_in_flight_peaks(self) -> None:
        self.max_in_flight = self.in_flight
        self.max_in_flight_per_chat = max(self._in_flight_chats.values(), default=0)

    def _answer_delay(self) -> float:
        if not self._latency:
            return 0.0
        return self._latency + self._random.uniform(-self._jitter, self._jitter)

    def hang_next(self, method: str, seconds: float) -> None:
        """Delay the next call of ``method`` by ``seconds`` (released early on stop)."""
        self._hangs[method].append(seconds)

    def _take_fault(self, method: str, params: dict[str, Any]) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        now = time.monotonic()
        for fault in list(queue):
            if fault.until is not None and now >= fault.until:
                queue.remove(fault)
                continue
            if fault.chat_id is None or fault.chat_id == params.get("chat_id"):
                if fault.until is not None:
                    return fault
                fault.times -= 1
                if fault.times <= 0:
                    queue.remove(fault)
                return fault
        return None

    def _check_blocked(self, params: dict[str, Any]) -> None:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id not in self._blocked:
            return
        if isinstance(chat_id, int) and chat_id < 0:
            kind = self.chats.get(chat_id, {}).get("type", "supergroup")
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        raise ApiError(403, "Forbidden: bot was blocked by the user")

    def _check_limits(self, params: dict[str, Any]) -> None:
        limits = self._limits
        if limits is None:
            return
        now = time.monotonic()
        chat_id = params.get("chat_id")
        windows: list[tuple[deque[float], float, int]] = [
            (self._send_times["global"], 1.0, limits.global_per_second)
        ]
        if chat_id is not None:
            windows.append((self._send_times[("chat", chat_id)], 1.0, limits.per_chat_per_second))
            if isinstance(chat_id, int) and chat_id < 0:
                windows.append(
                    (self._send_times[("group", chat_id)], 60.0, limits.per_group_per_minute)
                )
        wait = 0.0
        for times, window, limit in windows:
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= limit:
                wait = max(wait, times[0] + window - now)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        for times, _, _ in windows:
            times.append(now)

    # ------------------------------------------------------------------- HTTP

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        """Merge query string and body (multipart, urlencoded or JSON) into one dict."""
        params: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.body_exists:
            ctype = request.content_type
            if ctype == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(
                            filename=value.filename or key,
                            content=value.file.read(),
                            content_type=value.content_type or "application/octet-stream",
                        )
                    else:
                        params[key] = value
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                attached = files.pop(value.removeprefix("attach://"), None)
                if attached is not None:
                    params[key] = attached
        for key, attached in files.items():
            params.setdefault(key, attached)
        return normalize_params(params)

    async def _handle(self, request: web.Request) -> web.Response:
        raw_method = request.match_info["method"]
        known = self._handlers.get(raw_method.lower())
        method = known[0] if known else raw_method
        try:
            params = await self._read_params(request)
        except ValueError:
            params = {}
            status, payload = 400, _bad("can't parse JSON object").payload()
        else:
            if request.match_info["token"] != self.token:
                status, payload = 401, ApiError(401, "Unauthorized").payload()
            elif known is None:
                status, payload = 404, ApiError(404, "Not Found").payload()
            elif self._resets.get(method, 0) > 0:
                self._resets[method] -= 1
                self._record(method, params, 0, {"ok": False, "description": "connection reset"})
                if request.transport is not None:
                    request.transport.abort()  # no answer; writing the one below fails quietly
                return web.Response(status=500)
            else:
                sending = method in PACED_METHODS
                chat = params.get("chat_id")
                if sending:
                    self._enter_flight(chat)
                try:
                    status, payload = await self._dispatch(method, known[1], params)
                    call = self._record(method, params, status, payload)
                    await self._hold_answer(call)
                finally:
                    if sending:
                        self._leave_flight(chat)
                call.answered = time.monotonic()
                return self._json(status, payload)
        self._record(method, params, status, payload).answered = time.monotonic()
        return self._json(status, payload)

    @staticmethod
    def _json(status: int, payload: dict[str, Any]) -> web.Response:
        return web.json_response(
            payload, status=status, dumps=lambda obj: json.dumps(obj, ensure_ascii=False)
        )

    async def _hold_answer(self, call: ApiCall) -> None:
        """The network's share of the round trip (released at once on stop)."""
        delay = call.delay = self._answer_delay()
        if delay > 0 and not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), delay)

    def _enter_flight(self, chat: object) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._in_flight_chats[chat] += 1
        self.max_in_flight_per_chat = max(self.max_in_flight_per_chat, self._in_flight_chats[chat])

    def _leave_flight(self, chat: object) -> None:
        self.in_flight -= 1
        self._in_flight_chats[chat] -= 1
        if not self._in_flight_chats[chat]:
            del self._in_flight_chats[chat]

    async def _dispatch(
        self,
        method: str,
        handler: Callable[[dict[str, Any]], Awaitable[Any]],
        params: dict[str, Any],
    ) -> tuple[int, dict[str, Any]]:
        if method == "getUpdates":
            self._polls_received += 1
            self._notify()
        try:
            hang = self._hangs.get(method)
            if hang:
                seconds = hang.popleft()
                self.hung.append((method, params, time.monotonic()))
                self._notify()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), seconds)
            fault = self._take_fault(method, params)
            if fault is not None:
                raise ApiError(fault.status, fault.description, fault.parameters)
            if method in BLOCKABLE_METHODS:
                self._check_blocked(params)
            if method in SEND_METHODS:
                self._check_limits(params)
            result = await handler(params)
        except ApiError as error:
            return error.status, error.payload()
        except Exception:
            trace = traceback.format_exc()
            self.errors.append(trace)
            log.error("fake Telegram bug while handling %s:\n%s", method, trace)
            return 500, ApiError(500, "Internal Server Error").payload()
        return 200, {"ok": True, "result": result}

    def _record(
        self, method: str, params: dict[str, Any], status: int, payload: dict[str, Any]
    ) -> ApiCall:
        call = ApiCall(method, params, status, payload, time.monotonic(), len(self.calls))
        self.calls.append(call)
        if status == 429:
            self.count_429 += 1
        log.debug("%s", call.brief())
        self._notify()
        return call

    # ------------------------------------------------------------ bot & polling

    async def _return_true(self, params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(409, CONFLICT_WEBHOOK)
        offset = params.get("offset")
        limit = params.get("limit") or 100
        timeout = params.get("timeout") or 0
        if not all(isinstance(v, int) for v in (offset or 0, limit, timeout)):
            raise _bad("wrong parameter type in getUpdates")
        limit = min(max(limit, 1), 100)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else None
        self._confirm(offset)
        self._active_poll += 1
        me = self._active_poll
        self._notify()  # an older poll still waiting must now answer 409

        def ready() -> list[dict[str, Any]] | None:
            if self._active_poll != me:
                raise ApiError(409, CONFLICT_POLLING)
            batch = self._deliverable(limit)
            return batch if batch or self._stopping else None

        result = await self._wait_until(ready, float(max(timeout, 0)))
        return result or []

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        self.webhook_secret = None
        self._notify()
        if params.get("drop_pending_updates"):
            self._updates.clear()
            self._notify()
        return True

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if url and not url.startswith("https://"):
            raise _bad("bad webhook: HTTPS url must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("bad webhook: secret token contains unallowed characters")
        self.webhook_url = url
        self.webhook_secret = secret
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else None
        self._notify()
        if params.get("drop_pending_updates"):
            self._updates.clear()
            self._notify()
        return True

    def _webhook_target(self, advance: bool = False) -> str | None:
        if not self.webhook_url or not self.webhook_proxy:
            return None
        proxies = self.webhook_proxy
        if isinstance(proxies, str):
            proxies = [proxies]
        base = proxies[self._proxy_turn % len(proxies)]
        if advance:
            self._proxy_turn += 1
        parts = urlsplit(self.webhook_url)
        return base.rstrip("/") + (parts.path or "/")

    async def _deliver_webhooks(self) -> None:
        """POST queued updates to the webhook one at a time, as Telegram does per bot
        with max_connections=1: an update leaves the queue on a 2xx answer only;
        otherwise it is retried after a short pause."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as http:
            while not self._stopping:
                batch = await self._wait_until(
                    lambda: (self._deliverable(1) or None) if self._webhook_target() else None,
                    1.0,
                )
                target = self._webhook_target(advance=True)
                if not batch or target is None or self._stopping:
                    continue
                update = batch[0]
                headers = {}
                if self.webhook_secret:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
                try:
                    async with http.post(target, json=update, headers=headers) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                self.webhook_deliveries.append((update["update_id"], status))
                if 200 <= status < 300:
                    self._updates = [u for u in self._updates if u is not update]
                else:
                    await asyncio.sleep(0.2)
                self._notify()

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = 40
        return info

    # ------------------------------------------------------------------ messages

    def _render(
        self,
        text: Any,
        parse_mode: Any,
        entities: Any,
        *,
        caption: bool = False,
    ) -> tuple[str, list[dict[str, Any]]]:
        """Validate text like Telegram and return (plain text, entities)."""
        if text is None or text == "":
            if caption:
                return "", []
            raise _bad("message text is empty")
        text = str(text)
        mode = str(parse_mode or "").lower()
        if mode == "html":
            try:
                plain, parsed = parse_html(text)
            except HtmlParseError as error:
                raise _bad(f"can't parse entities: {error}") from None
        else:
            plain = text
            parsed = entities if isinstance(entities, list) else []
        if not plain.strip() and not caption:
            raise _bad("message text is empty")
        limit = MAX_CAPTION_LENGTH if caption else MAX_MESSAGE_LENGTH
        # Counted in UTF-16 units, the Bot API's unit for text (an emoji counts two): the
        # stricter reading of "characters", so a bot that passes here passes Telegram.
        if utf16_len(plain) > limit:
            raise _bad("message caption is too long" if caption else "message is too long")
        return plain, parsed

    def _inline_markup(self, markup: Any) -> dict[str, Any] | None:
        """Validate reply_markup; return it when it is an inline keyboard (echoed)."""
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return None  # reply keyboards etc. are accepted but not part of Message
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad("can't parse inline keyboard button: InlineKeyboardMarkup expected")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad(
                        "can't parse inline keyboard button: Text buttons are unallowed "
                        "in the inline keyboard"
                    )
                if "callback_data" in button:
                    size = len(str(button["callback_data"]).encode("utf-8"))
                    if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                        raise _bad("BUTTON_DATA_INVALID")
                elif "url" in button:
                    if not str(button["url"]).strip():
                        raise _bad("inline keyboard button URL '' is invalid")
                elif not any(
                    key in button
                    for key in (
                        "switch_inline_query",
                        "switch_inline_query_current_chat",
                        "web_app",
                        "login_url",
                        "pay",
                        "callback_game",
                        "copy_text",
                        "switch_inline_query_chosen_chat",
                    )
                ):
                    raise _bad(
                        "can't parse inline keyboard button: Text buttons are unallowed "
                        "in the inline keyboard"
                    )
        if not any(rows):
            return None
        return markup

    def _new_message(self, chat: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": self._next_message_id(chat["id"])}
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        else:
            message["from"] = dict(self.bot_user)
        message["chat"] = chat
        message["date"] = int(time.time())
        if params.get("message_thread_id"):
            message["message_thread_id"] = params["message_thread_id"]
        return message

    def _store(self, message: dict[str, Any]) -> dict[str, Any]:
        self.messages[message["chat"]["id"]].append(message)
        return copy.deepcopy(message)

    def _find_message(self, params: dict[str, Any], missing: str) -> dict[str, Any]:
        if params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._chat(params.get("chat_id"))
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _bad("message identifier is not specified")
        for message in self.messages.get(chat["id"], []):
            if message["message_id"] == message_id:
                return message
        raise _bad(missing)

    def last_message(self, chat_id: int) -> dict[str, Any] | None:
        """Current state of the newest message the bot has in a chat."""
        stored = self.messages.get(chat_id)
        return stored[-1] if stored else None

    def get_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """Current state of a stored bot message (None when deleted/unknown)."""
        for message in self.messages.get(chat_id, []):
            if message["message_id"] == message_id:
                return message
        return None

    @staticmethod
    def _set_text(
        message: dict[str, Any], key: str, text: str, entities: list[dict[str, Any]]
    ) -> None:
        entity_key = "entities" if key == "text" else "caption_entities"
        if text:
            message[key] = text
        else:
            message.pop(key, None)
        if entities:
            message[entity_key] = entities
        else:
            message.pop(entity_key, None)

    @staticmethod
    def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params.get("chat_id"))
        text, entities = self._render(
            params.get("text"), params.get("parse_mode"), params.get("entities")
        )
        markup = self._inline_markup(params.get("reply_markup"))
        message = self._new_message(chat, params)
        self._set_text(message, "text", text, entities)
        self._set_markup(message, markup)
        return self._store(message)

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._find_message(params, "message to edit not found")
        text, entities = self._render(
            params.get("text"), params.get("parse_mode"), params.get("entities")
        )
        markup = self._inline_markup(params.get("reply_markup"))
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        if (
            message.get("text") == text
            and message.get("entities", []) == entities
            and message.get("reply_markup") == markup
        ):
            raise ApiError(400, NOT_MODIFIED)
        self._set_text(message, "text", text, entities)
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._find_message(params, "message to edit not found")
        caption, entities = self._render(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        markup = self._inline_markup(params.get("reply_markup"))
        if "text" in message:
            raise _bad("there is no caption in the message to edit")
        if (
            message.get("caption", "") == caption
            and message.get("caption_entities", []) == entities
            and message.get("reply_markup") == markup
        ):
            raise ApiError(400, NOT_MODIFIED)
        self._set_text(message, "caption", caption, entities)
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._find_message(params, "message to edit not found")
        markup = self._inline_markup(params.get("reply_markup"))
        if message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        message = self._find_message(params, "message to delete not found")
        self.messages[message["chat"]["id"]].remove(message)
        self.deleted_messages.append(message)
        return True

    async def _delete_messages(self, params: dict[str, Any]) -> bool:
        ids = params.get("message_ids")
        if isinstance(ids, str):
            with contextlib.suppress(ValueError):
                ids = json.loads(ids)
        for message_id in ids if isinstance(ids, list) else []:
            with contextlib.suppress(ApiError):
                await self._delete_message({**params, "message_id": message_id})
        return True

    def _new_file_id(self, prefix: str) -> tuple[str, str]:
        number = next(self._file_ids)
        return f"{prefix}ACAgIAAxkBAAI{number:08d}fake", f"AgAD{number:08d}"

    async def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params.get("chat_id"))
        document = params.get("document")
        caption, entities = self._render(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        markup = self._inline_markup(params.get("reply_markup"))
        file_id, unique_id = self._new_file_id("BQ")
        if isinstance(document, UploadedFile):
            document.file_id = file_id
            self.uploads.append(document)
            obj = {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "file_name": document.filename,
                "mime_type": document.content_type,
                "file_size": len(document.content),
            }
        elif isinstance(document, str) and document:
            obj = {"file_id": document, "file_unique_id": unique_id}
        else:
            raise _bad("there is no document in the request")
        message = self._new_message(chat, params)
        message["document"] = obj
        self._set_text(message, "caption", caption, entities)
        self._set_markup(message, markup)
        return self._store(message)

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params.get("chat_id"))
        photo = params.get("photo")
        caption, entities = self._render(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        markup = self._inline_markup(params.get("reply_markup"))
        file_id, unique_id = self._new_file_id("Ag")
        if isinstance(photo, UploadedFile):
            photo.file_id = file_id
            self.uploads.append(photo)
            size = len(photo.content)
        elif isinstance(photo, str) and photo:
            size = await self._photo_by_string(photo)
        else:
            raise _bad("there is no photo in the request")
        self.photo_ids.add(file_id)
        message = self._new_message(chat, params)
        message["photo"] = [
            {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "width": 800,
                "height": 600,
                "file_size": size,
            }
        ]
        self._set_text(message, "caption", caption, entities)
        self._set_markup(message, markup)
        return self._store(message)

    async def _photo_by_string(self, photo: str) -> int:
        """A photo given as a string, as Telegram reads it: a file_id it issued, else an
        http(s) URL that it downloads (an image, at most 5 MB); anything else, or a URL
        that fails, is refused with Telegram's descriptions. Returns the size."""
        refused = self.refused_photo_urls.get(photo)
        if refused is not None:
            raise ApiError(400, refused)
        if photo in self.photo_ids or self._file(photo) is not None:
            return 0
        try:
            parts = urlsplit(photo)
        except ValueError:
            raise ApiError(400, PHOTO_BAD_ID) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiError(400, PHOTO_BAD_ID)
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(photo) as response,
            ):
                if response.status != 200:
                    raise ApiError(400, PHOTO_NO_CONTENT)
                body = await response.content.read(MAX_PHOTO_URL_BYTES + 1)
                kind = response.content_type
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise ApiError(400, PHOTO_NO_CONTENT) from None
        if len(body) > MAX_PHOTO_URL_BYTES:
            raise ApiError(400, PHOTO_NO_CONTENT)
        if not kind.startswith("image/"):
            raise ApiError(400, PHOTO_WRONG_TYPE)
        return len(body)

    def refuse_photo_url(self, url: str, description: str = PHOTO_NO_CONTENT) -> None:
        """Make sendPhoto with this URL fail as Telegram does when it cannot use it."""
        self.refused_photo_urls[url] = description

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        query = self._queries.get(query_id)
        if query is None or query["answered"]:
            raise ApiError(400, QUERY_INVALID)
        if len(str(params.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        query["answered"] = True
        self.callback_answers[query_id] = params
        return True

    # ------------------------------------------------------------------ commands

    @staticmethod
    def _scope_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise _bad("can't parse BotCommandScope JSON object")
        key = str(scope["type"])
        if "chat_id" in scope:
            key += f":{scope['chat_id']}"
        if "user_id" in scope:
            key += f":{scope['user_id']}"
        return key, str(params.get("language_code") or "")

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("too many commands")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand JSON object")
            if not _COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._scope_key(params)
        if commands:
            self.commands[key] = commands
        else:
            self.commands.pop(key, None)
        return True

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return copy.deepcopy(self.commands.get(self._scope_key(params), []))

    def _set_bot_property(self, name: str) -> Callable[[dict[str, Any]], Awaitable[bool]]:
        async def handler(params: dict[str, Any]) -> bool:
            language = str(params.get("language_code") or "")
            self.bot_properties[(name, language)] = str(params.get(name) or "")
            return True

        return handler

    def _get_bot_property(self, name: str) -> Callable[[dict[str, Any]], Awaitable[dict[str, str]]]:
        async def handler(params: dict[str, Any]) -> dict[str, str]:
            language = str(params.get("language_code") or "")
            default = self.bot_user["first_name"] if name == "name" else ""
            return {name: self.bot_properties.get((name, language), default)}

        return handler

    # --------------------------------------------------------------------- chats

    def _file(self, file_id: object) -> UploadedFile | None:
        """A file users sent, or one the bot uploaded (its file_id can be reused)."""
        found = self.user_files.get(str(file_id))
        return found or next((f for f in self.uploads if f.file_id == file_id), None)

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        found = self._file(params.get("file_id"))
        if found is None:
            raise _bad("invalid file_id")
        return {
            "file_id": found.file_id,
            "file_unique_id": found.file_id[-12:],
            "file_size": len(found.content),
            "file_path": f"documents/{found.file_id}/{found.filename}",
        }

    async def _serve_file(self, request: web.Request) -> web.Response:
        """`{base}/file/bot{token}/{file_path}`, the download URL of getFile's answer."""
        parts = request.match_info["path"].split("/")
        found = self._file(parts[1]) if len(parts) == 3 else None
        if request.match_info["token"] != self.token or found is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=found.content, content_type="application/octet-stream")

    async def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params.get("chat_id"))
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _member_obj(self, status: str, user: dict[str, Any]) -> dict[str, Any]:
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "administrator":
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_send_welcome_messages": False,
                "can_post_messages": True,
                "can_edit_messages": True,
                "can_pin_messages": True,
            }
        if status == "restricted":
            flags = [
                "can_send_messages",
                "can_send_audios",
                "can_send_documents",
                "can_send_photos",
                "can_send_videos",
                "can_send_video_notes",
                "can_send_voice_notes",
                "can_send_polls",
                "can_send_other_messages",
                "can_add_web_page_previews",
                "can_react_to_messages",
                "can_edit_tag",
                "can_change_info",
                "can_invite_users",
                "can_pin_messages",
                "can_manage_topics",
            ]
            return {
                "status": "restricted",
                "user": user,
                "is_member": True,
                **dict.fromkeys(flags, False),
                "until_date": 0,
            }
        if status == "left":
            return {"status": "left", "user": user}
        if status == "kicked":
            return {"status": "kicked", "user": user, "until_date": 0}
        return {"status": "member", "user": user}

    async def _get_chat_member(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params.get("chat_id"))
        user_id = params.get("user_id")
        if not isinstance(user_id, int):
            raise _bad("invalid user_id specified")
        status = self.chat_members.get((chat["id"], user_id), "member")
        return self._member_obj(status, self._user_obj(user_id))
