"""Editors' breaking items (SPEC 8.2, 8.2a), independent of handlers.

`/post` makes a draft and says how many it would reach; the editor's Send turns it into
an article without a feed, fanned out through the outbox ahead of ordinary articles
(storage/breaking.py). `BreakingWatcher` tells the editor when the fan-out is done.
`/correct` and `/recall` reach every delivered copy through `editMessageText` (a photo
post's `editMessageCaption`) and `deleteMessage`, paced by the sender's own `Pacer` and
overlapped within its `SendWindow`, so together they never exceed Telegram's limits and
keep the allowed rate across a real round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramRetryAfter
from aiogram.types import LinkPreviewOptions

from bot.delivery.pacing import Pacer
from bot.delivery.render import (
    MAX_CAPTION_LENGTH,
    HashtagOf,
    id_hashtag,
    render_html,
    utf16_len,
    visible_length,
)
from bot.delivery.window import SendWindow
from bot.i18n import LANGUAGES, Catalogue
from bot.readers import clean_argument
from storage.breaking import Breaking, BreakingRepository, Copy, Delivery
from storage.chats import ChatRepository
from storage.roles import RoleRepository

log = logging.getLogger(__name__)

# In UTF-16 code units, as Telegram counts (an emoji may count two): its limit is 4096,
# and the preview's header and the push's hashtags need the rest.
MAX_POST_CHARS = 3500
# With a photo the post is its caption (1,024 after entities): the text alone may hold
# 900, and with its hashtags it must fit (`_caption_problem`); it is refused rather than
# cut, as a post without a link must be.
MAX_PHOTO_POST_CHARS = 900
PREVIEW_TTL = timedelta(hours=1)
_HASHTAG = re.compile(r"#(\w+)")


def utc_now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ pure parts


class PostProblem(enum.Enum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    UNKNOWN_TOPICS = "unknown_topics"


@dataclass(frozen=True)
class PostRejected:
    problem: PostProblem
    detail: str = ""
    limit: int = MAX_POST_CHARS  # for TOO_LONG: the most the text may hold


@dataclass(frozen=True)
class ParsedPost:
    topics: tuple[str, ...]  # in the order written, without repeats
    text: str


def parse_post(
    args: str | None, topic_of: Callable[[str], str | None], photo: bool = False
) -> ParsedPost | PostRejected:
    """`#china #trade Text...`: leading hashtags name topics (case-insensitive), by id or
    by the tag posts show (`topic_of(tag)` gives the id: `#Китай` is `china`); a hashtag
    later in the text is part of it. An unknown leading hashtag is refused rather than
    silently widening the audience to everyone. `photo`: the text is a photo's caption."""
    rest = (args or "").strip()
    topics: list[str] = []
    unknown: list[str] = []
    while rest.startswith("#"):
        match = _HASHTAG.match(rest)
        if match is None:
            break
        tag = match.group(1).casefold()
        topic = topic_of(tag)
        (topics if topic else unknown).append(topic or tag)
        rest = rest[match.end() :].lstrip(" \t,")
        if rest.startswith("\n"):
            rest = rest.lstrip()
            break
    if unknown:
        return PostRejected(PostProblem.UNKNOWN_TOPICS, " ".join(f"#{t}" for t in unknown))
    text = clean_text(rest)
    if problem := text_problem(text, photo):
        return problem
    return ParsedPost(tuple(dict.fromkeys(topics)), text)


def clean_text(text: str) -> str:
    return "\n".join(clean_argument(line) for line in text.strip().splitlines()).strip()


def text_problem(text: str, photo: bool = False) -> PostRejected | None:
    """An item's text (/post, /correct) is refused empty or over its limit: MAX_POST_CHARS,
    or MAX_PHOTO_POST_CHARS when it is a photo's caption."""
    if not text:
        return PostRejected(PostProblem.EMPTY)
    limit = MAX_PHOTO_POST_CHARS if photo else MAX_POST_CHARS
    if utf16_len(text) > limit:
        return PostRejected(PostProblem.TOO_LONG, str(utf16_len(text)), limit)
    return None


def split_text(text: str) -> tuple[str, str]:
    """The push's bold title is the first line; the rest is its body."""
    first, _, rest = text.strip().partition("\n")
    return first.strip(), rest.strip()


@dataclass(frozen=True)
class PushView:
    """A breaking item as `render_html` sees it: no source, no link."""

    title: str
    summary: str
    topics: tuple[str, ...]
    link: str | None = None
    source: str | None = None


# ------------------------------------------------------------------ outcomes


@dataclass(frozen=True)
class Draft:
    item: Breaking
    readers: int
    channels: int


class Press(enum.Enum):
    SENT = "sent"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    NOT_YOURS = "not_yours"
    DONE_ALREADY = "done_already"  # a second press: sent or cancelled before
    UNKNOWN = "unknown"


class ItemProblem(enum.Enum):
    UNKNOWN = "unknown"  # no such item, or never sent
    RECALLED = "recalled"


@dataclass(frozen=True)
class CopiesReport:
    """What /correct or /recall did to the delivered copies."""

    done: int = 0
    failed: int = 0
    waiting: int = 0  # not delivered yet: corrected before sending, or dropped by /recall


@dataclass
class _Tally:
    done: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class EditorialService:
    def __init__(
        self,
        breaking: BreakingRepository,
        roles: RoleRepository,
        admin_ids: frozenset[int],
        topic_of: Callable[[str], str | None],
        bot: Bot,
        pacer: Pacer,
        catalogue: Catalogue,
        *,
        window: SendWindow | None = None,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utc_now,
        preview_ttl: timedelta = PREVIEW_TTL,
        hashtag: HashtagOf = id_hashtag,
    ) -> None:
        """`pacer` and `window` are the sender's: edits and sends share one rate, one
        window of requests in flight and one request per chat. `topic_of(tag)` is the
        topic id an editor's hashtag names, or None; `hashtag` names topics in the
        corrected copies, as the sender does."""
        self._breaking = breaking
        self._roles = roles
        self.admin_ids = admin_ids
        self._topic_of = topic_of
        self._hashtag = hashtag
        self._bot = bot
        self._pacer = pacer
        self._window = window or SendWindow(pacer.rate)
        self._catalogue = catalogue
        self._wake = wake
        self._clock = clock
        self._ttl = preview_ttl
        self._recalling: set[int] = set()

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admin_ids

    async def is_editor(self, user_id: int) -> bool:
        """Admins are editors too."""
        return self.is_admin(user_id) or await self._roles.is_editor(user_id)

    async def draft(
        self, editor_id: int, args: str | None, photo: str | None = None
    ) -> Draft | PostRejected:
        """`photo`: the file_id of the photo whose caption was the /post command; channels
        and groups get the item as that photo with the text as its caption."""
        parsed = parse_post(args, self._topic_of, photo is not None)
        if isinstance(parsed, PostRejected):
            return parsed
        if photo is not None and (problem := self._caption_problem(parsed.text, parsed.topics)):
            return problem
        item = await self._breaking.create(
            editor_id, parsed.text, parsed.topics, self._clock(), photo
        )
        readers, channels = await self._breaking.audience(parsed.topics)
        return Draft(item, readers, channels)

    def _caption_problem(self, text: str, topics: Sequence[str]) -> PostRejected | None:
        """A photo's text with its hashtags must fit the caption in every language, or be
        refused whole: a cut would end a post that has no link mid-sentence."""
        title, summary = split_text(text)
        view = PushView(title, summary, tuple(topics))
        longest = max(
            visible_length(
                render_html(
                    view, self._catalogue.translator(language), 10**6, hashtag=self._hashtag
                )
            )
            for language in LANGUAGES
        )
        if longest <= MAX_CAPTION_LENGTH:
            return None
        room = max(0, utf16_len(text) - (longest - MAX_CAPTION_LENGTH))
        return PostRejected(PostProblem.TOO_LONG, str(utf16_len(text)), room)

    async def press(self, item_id: int, user_id: int, send: bool) -> tuple[Press, int]:
        """The editor's Send or Cancel; returns the outcome and, for SENT, rows queued.

        Every transition is one conditional UPDATE, so two quick presses (or two
        editors) can never send an item twice."""
        item = await self._breaking.get(item_id)
        if item is None:
            return Press.UNKNOWN, 0
        if item.editor_id != user_id:
            return Press.NOT_YOURS, 0
        if item.status != "draft":
            return (Press.EXPIRED if item.status == "expired" else Press.DONE_ALREADY), 0
        now = self._clock()
        if not send:
            done = await self._breaking.close_draft(item_id, user_id, "cancelled")
            return (Press.CANCELLED if done else Press.DONE_ALREADY), 0
        title, summary = split_text(item.text)
        queued = await self._breaking.send(item_id, user_id, title, summary, now - self._ttl, now)
        if queued is None:
            if await self._breaking.close_draft(item_id, user_id, "expired"):
                return Press.EXPIRED, 0
            return Press.DONE_ALREADY, 0
        self._wake()
        return Press.SENT, queued

    async def _sent_item(self, item_id: int) -> Breaking | ItemProblem:
        item = await self._breaking.get(item_id)
        if item is None or item.status != "sent" or item.article_id is None:
            return ItemProblem.UNKNOWN
        if item.recalled_at is not None:
            return ItemProblem.RECALLED
        return item

    async def correct(
        self, item_id: int, args: str | None
    ) -> CopiesReport | ItemProblem | PostRejected:
        item = await self._sent_item(item_id)
        if not isinstance(item, Breaking):
            return item
        text = clean_text(args or "")
        if problem := text_problem(text, item.photo is not None):  # refused whole, never cut
            return problem
        if item.photo is not None and (problem := self._caption_problem(text, item.topics)):
            return problem
        title, summary = split_text(text)
        waiting = await self._breaking.correct(item_id, text, title, summary, self._clock())
        assert item.article_id is not None
        view = PushView(title, summary, item.topics)
        # Copies delivered meanwhile (the sender held the old text) get a second pass; a
        # copy delivered later still is fixed by running the same /correct again ("not
        # modified" counts as done for the copies already right).
        tally = await self._two_passes(item.article_id, lambda copy: self._edit(copy, view))
        return CopiesReport(tally.done, tally.failed, waiting)

    async def recall(self, item_id: int) -> CopiesReport | ItemProblem:
        """Delete every delivered copy. Run again on a recalled item, it deletes the
        copies left (delivered after the first run, or failed); with none left it says
        the item was recalled already."""
        item = await self._breaking.get(item_id)
        if item is None or item.status != "sent" or item.article_id is None:
            return ItemProblem.UNKNOWN
        if item_id in self._recalling:  # a /recall of this item is under way
            return ItemProblem.RECALLED
        self._recalling.add(item_id)
        try:
            dropped = await self._breaking.recall(item_id, self._clock())
            deleted = self._breaking.copy_deleted
            tally = await self._two_passes(item.article_id, self._delete, deleted)
        finally:
            self._recalling.discard(item_id)
        if dropped is None and tally.done == tally.failed == 0:
            return ItemProblem.RECALLED
        return CopiesReport(tally.done, tally.failed, dropped or 0)

    async def _two_passes(
        self,
        article_id: int,
        act: Callable[[Copy], Awaitable[object]],
        done: Callable[[int], Awaitable[None]] | None = None,
    ) -> _Tally:
        """Every delivered copy, then those delivered while the first pass ran: the
        sender may have held a row in memory and recorded it `sent` afterwards."""
        first = await self._breaking.copies(article_id)
        tally = await self._each_copy(first, act, done)
        seen = {copy.outbox_id for copy in first}
        later = [c for c in await self._breaking.copies(article_id) if c.outbox_id not in seen]
        return await self._each_copy(later, act, done, tally)

    async def _each_copy(
        self,
        copies: Sequence[Copy],
        act: Callable[[Copy], Awaitable[object]],
        done: Callable[[int], Awaitable[None]] | None = None,
        tally: _Tally | None = None,
    ) -> _Tally:
        """Copies overlap like the sender's messages: each waits for a place in the
        shared window, then for the shared pace, so a correction to 10,000 readers runs
        at the allowed rate across Telegram's round trip, never beside it."""
        tally = _Tally() if tally is None else tally
        try:
            async with asyncio.TaskGroup() as group:
                for copy in copies:
                    await self._window.acquire(copy.chat_id)
                    group.create_task(self._one_copy(copy, act, done, tally))
        except ExceptionGroup as failed:  # storage failed under one copy: the rest stop
            raise failed.exceptions[0] from None
        return tally

    async def _one_copy(
        self,
        copy: Copy,
        act: Callable[[Copy], Awaitable[object]],
        done: Callable[[int], Awaitable[None]] | None,
        tally: _Tally,
    ) -> None:
        """One copy, holding its place in the window (taken by the caller) to the end."""
        private = copy.chat_kind == "private" and copy.chat_id > 0
        try:
            for _ in range(3):  # a 429 pauses everyone, then this copy is tried again
                await self._slot(copy.chat_id, private)
                started = time.monotonic()
                try:
                    await act(copy)
                except TelegramRetryAfter as error:
                    self._pacer.pause_until(time.monotonic() + error.retry_after)
                    continue
                except TelegramBadRequest as error:
                    if "not modified" in error.message:
                        tally.done += 1
                    else:
                        tally.failed += 1
                        log.info("copy in chat %d: %s", copy.chat_id, error.message)
                except TelegramAPIError as error:
                    tally.failed += 1
                    log.info("copy in chat %d: %s", copy.chat_id, error)
                else:
                    self._window.observe(time.monotonic() - started)
                    tally.done += 1
                    if done is not None:
                        await done(copy.outbox_id)
                return
            tally.failed += 1
        finally:
            self._window.finish(copy.chat_id)

    async def _slot(self, chat_id: int, private: bool) -> None:
        wait = self._pacer.reserve(chat_id, private, time.monotonic())
        while wait > 0:
            await asyncio.sleep(wait)
            wait = self._pacer.reserve(chat_id, private, time.monotonic())

    async def _edit(self, copy: Copy, view: PushView) -> None:
        """A photo post's text is its caption (SPEC 8.2a: edited in place either way)."""
        t = self._catalogue.translator(copy.language)
        if copy.photo:
            await self._bot.edit_message_caption(
                caption=render_html(view, t, MAX_CAPTION_LENGTH, hashtag=self._hashtag),
                chat_id=copy.chat_id,
                message_id=copy.message_id,
                parse_mode=ParseMode.HTML,
            )
            return
        await self._bot.edit_message_text(
            text=render_html(view, t, hashtag=self._hashtag),
            chat_id=copy.chat_id,
            message_id=copy.message_id,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    async def _delete(self, copy: Copy) -> None:
        await self._bot.delete_message(chat_id=copy.chat_id, message_id=copy.message_id)


# ------------------------------------------------------------------ the report

ReportText = Callable[[Breaking, Delivery, str], str]


class BreakingWatcher:
    """Queues each editor's report once no row of their item is left to send.

    Owned by `main()` beside the sender and awaited on shutdown; the report itself goes
    through the outbox, so a restart between the check and the send loses nothing."""

    def __init__(
        self,
        breaking: BreakingRepository,
        chats: ChatRepository,
        report_text: ReportText,
        *,
        wake: Callable[[], None] = lambda: None,
        interval: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._breaking = breaking
        self._chats = chats
        self._report_text = report_text
        self._wake = wake
        self._interval = interval
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception:
                log.exception("breaking reports: check failed; going on")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)

    async def check(self) -> int:
        reported = 0
        for item in await self._breaking.finished_unreported():
            # Only a hint: `queue_report` checks again, and counts, under the write lock.
            chat = await self._chats.get(item.editor_id)
            language = chat.language if chat else "en"

            def text(found: Breaking, delivery: Delivery, language: str = language) -> str:
                return self._report_text(found, delivery, language)

            if await self._breaking.queue_report(item.breaking_id, text, self._clock()):
                reported += 1
        if reported:
            self._wake()
        return reported


def topics_label(topics: Sequence[str]) -> str:
    return " ".join(f"#{topic}" for topic in topics)
