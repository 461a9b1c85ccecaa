"""The sender (SPEC 7.2-7.4): one task that drains the outbox into Telegram.

Shape. A dispatcher loop claims batches of due rows (`pending` -> `sending`), keeps them in
a heap ordered by when Telegram's limits let each go (`Pacer`), and hands each ready row
to a send task. Telegram is a round trip away, so sends overlap: as many run at once as
the `SendWindow` allows (rate × measured round trip, plus one, at most 8; see
bot/delivery/window.py), never two to one chat. The pace is judged when a request
leaves: the pacer books a send at the moment its task starts, not when the answer comes.
At most `per_chat` rows of one chat wait in memory, and a row whose chat must wait
longer than `hold` (a group that used its 20 a minute) goes back to the outbox with a
`not_before`: a reader with thirty new stories or a channel's backlog never holds up
everyone else's messages. The loop sleeps on `wake()` (the poller queued rows), a
finished send, or a short idle timeout: no busy loop.

Results are written by group commit: a send task keeps its place in the window until its
result is stored, but the tasks that finish together share one transaction.

Cheap sends. The capacity target is 1,000 messages/s against a local API (the
paid-broadcast ceiling), so the bot's own cost per message matters: rows are claimed and
their results stored in batches, a message is rendered once per article and language
(not once per reader), and the request skips aiogram's model of the sent Message: only
its `message_id` is read (`bot/delivery/request.py`).

Restart safety and the duplicate bound. A row is `sending` from its claim until its
result is stored. After a crash every `sending` row goes back to pending
(`OutboxRepository.release_in_flight`) and is sent on the next start; claimed rows that
never reached Telegram are simply sent once. A row can be sent twice only if its request
had reached Telegram and its result was not stored yet, and each of those holds a place
in the window until it is stored. So a crash duplicates at most the window's size, never
more than 8 (SPEC 7.4). Rows waiting in memory are `sending` too, but they never reached
Telegram, so the restart sends them once. Sends still running when the shutdown grace
runs out are cancelled and count against the same bound. Apart from crashes, a request
that timed out may have been delivered and is retried: Telegram offers no idempotency
key, so that duplicate cannot be ruled out by any client.

Errors (SPEC 7.3): a 429 pauses every send for `retry_after` at once (sends already in
flight finish and their results are handled) and retries the same row (a pause over 10
minutes is an alert); 403 and "chat not found" deactivate the chat and
drop its queue; `migrate_to_chat_id` moves the chat and retries; a 400 about entities is
retried once as plain text; network errors and 5xx pause all sending and put the row back
with exponential backoff (2 s doubling, up to 10 min) and it is `failed` after
`max_attempts`; until a send succeeds again only one request is in flight; anything
else fails that row only, and the loop goes on.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from bot.delivery.pacing import Pacer
from bot.delivery.render import (
    MAX_CAPTION_LENGTH,
    MAX_MESSAGE_LENGTH,
    HashtagOf,
    id_hashtag,
    link_preview,
    render_html,
    render_plain,
)
from bot.delivery.request import (
    message_payload,
    photo_payload,
    preview_options,
    send_message,
    send_photo,
)
from bot.delivery.window import SendWindow
from bot.feeds.parse import html_to_text
from bot.i18n import Catalogue, Translator
from storage.chats import ChatRepository
from storage.outbox import Failed, OutboxRepository, OutboxRow, Outcome, Retry, Sent

# Retries of network errors and 5xx back off from 2 s, doubling, up to this many seconds:
# ten attempts span about 17 minutes of outage before a row is given up.
MAX_RETRY_DELAY = 600.0
log = logging.getLogger(__name__)

Alert = Callable[[str], Awaitable[object]]
Sleep = Callable[[float], Awaitable[object]]

LONG_PAUSE_SECONDS = 600.0  # SPEC 8b: a RetryAfter longer than 10 minutes is an alert
MAX_MIGRATIONS = 2  # a chat that keeps "migrating" is a loop, not a supergroup
ERROR_PAUSE = 5.0  # after an unexpected error in the loop itself (say, a full disk)
RENDER_CACHE = 64  # rendered pushes kept: (article, language, plain) of the rows in hand
NO_PREVIEW = {"is_disabled": True}
BUSY_RECHECK = 0.05  # a row whose chat has a request in flight looks again this much later
# Telegram answers sendMessage in well under a second; a request without an answer after
# 10 s is lost. A hung request holds a place in the window, so the wait is kept short
# (aiogram's default is 60 s): the row is retried after the usual backoff. A request that
# was delivered after all is then the duplicate no client can rule out (module
# docstring); waiting longer makes it rarer, not impossible.
REQUEST_TIMEOUT = 10
# sendPhoto by URL answers only after Telegram has downloaded the picture from the
# feed's site, which may be slow: waiting 10 s would retry a photo Telegram may still
# post, and each retry could become another copy. Telegram's own refusal ("failed to get
# HTTP URL content") is meant to come back first.
PHOTO_REQUEST_TIMEOUT = 60

# 400s that mean the chat cannot receive anything from us: treated like a 403.
_CHAT_GONE = (
    "chat not found",
    "user not found",
    "peer_id_invalid",
    "chat_write_forbidden",
    "have no rights to send",
    "not enough rights to send",
    "need administrator rights",
)
# 400s about our markup: the same message as plain text may pass.
_FORMATTING = ("can't parse", "entities", "entity", "message is too long")
# 400s about a picture, whatever else they say: "not enough rights to send photos" in a
# group that allows text is no reason to drop the chat, only the photo.
_ABOUT_PHOTO = ("photo", "media", "image", "http url", "file identifier", "web page content")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _photo_refused(description: str, plain: bool) -> bool:
    """A 400 to sendPhoto that costs the post its picture, not the post: one about the
    picture, or anything that is neither the chat being gone nor HTML plain text may cure."""
    if any(marker in description for marker in _ABOUT_PHOTO):
        return True
    if any(marker in description for marker in _CHAT_GONE):
        return False
    return plain or not _about_markup(description)


def _about_markup(description: str) -> bool:
    """A 400 about our HTML (or a text's length), which plain text may cure. "message
    caption is too long" matches none of the markers: plain text would not shorten it."""
    return any(marker in description for marker in _FORMATTING)


def _describe(error: BaseException) -> str:
    detail = getattr(error, "message", None) or str(error) or "no description"
    return f"{type(error).__name__}: {detail}"


@dataclass
class SenderStats:
    """Counters for /stats and /metrics (SPEC 8b)."""

    sent: int = 0
    retried: int = 0  # rows put back after a network error or 5xx
    plain_fallbacks: int = 0
    photo_fallbacks: int = 0  # pictures Telegram refused: the post went as text
    migrated: int = 0
    deactivated: int = 0  # chats that blocked the bot, vanished or lost rights
    dropped: int = 0  # queued rows of those chats
    pauses: int = 0  # 429s
    deferred: int = 0  # rows put back because their chat was at its limit
    failed: Counter[str] = field(default_factory=Counter)  # by reason
    send_seconds: float = 0.0  # summed latency of successful sends


RESTART_GAP = timedelta(seconds=2)
LEASE_RENEWAL = 5.0  # seconds between renewals of the rows held (storage.outbox.LEASE: 15 s)


class _Journal:
    """Group commit of send results (see the module docstring)."""

    def __init__(self, outbox: OutboxRepository) -> None:
        self._outbox = outbox
        self._buffer: list[Outcome] = []
        self._lock = asyncio.Lock()

    async def write(self, outcome: Outcome) -> None:
        """Return once `outcome` is stored (possibly by another task's transaction).

        One turn of the loop first: answers that arrived together then share the
        transaction (each costs the loop three hand-offs to the database thread)."""
        self._buffer.append(outcome)
        await asyncio.sleep(0)
        await self.flush()

    async def write_all(self, outcomes: list[Outcome]) -> None:
        self._buffer.extend(outcomes)
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            if not self._buffer:
                return
            batch, self._buffer = self._buffer, []
            try:
                await self._outbox.record(batch)
            except BaseException:
                self._buffer[:0] = batch
                raise


class Sender:
    def __init__(
        self,
        bot: Bot,
        outbox: OutboxRepository,
        chats: ChatRepository,
        catalogue: Catalogue,
        pacer: Pacer,
        *,
        window: SendWindow | None = None,
        concurrency: int | None = None,
        batch_size: int = 50,
        alert: Alert | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utc_now,
        sleep: Sleep = asyncio.sleep,
        idle_timeout: float = 1.0,
        hold: float = 2.0,
        per_chat: int = 2,
        max_attempts: int = 10,
        backoff: float = 2.0,
        request_timeout: int = REQUEST_TIMEOUT,
        shutdown_grace: float = 5.0,
        may_claim: Callable[[], bool] = lambda: True,
        hashtag: HashtagOf = id_hashtag,
    ) -> None:
        """`window` is shared with the editors' edits (app.py); without one the sender
        makes its own, of fixed size `concurrency` when given. The window's size is also
        the bound on duplicates after a crash (module docstring).

        `clock` (monotonic seconds) drives pacing and `sleep`; `wall` stamps the database
        (not_before, sent_at). `alert(text)` is awaited on a pause over 10 minutes: the
        sender is paused then, so it should not rely on Telegram answering.
        `may_claim()` is asked before every claim: False once a replica lost its leader
        lock (bot/leadership.py), so a fenced leader takes no further row.
        `hashtag(topic, language)` names topics in a post (`Taxonomy.hashtag`)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._bot = bot
        self._outbox = outbox
        self._chats = chats
        self._catalogue = catalogue
        self._pacer = pacer
        self._window = window or SendWindow(pacer.rate, fixed=concurrency)
        self._batch_size = batch_size
        self._alert = alert
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._idle_timeout = idle_timeout
        self._hold = hold
        self._per_chat = max(1, per_chat)
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._request_timeout = request_timeout
        self._shutdown_grace = shutdown_grace
        self._may_claim = may_claim
        self._hashtag = hashtag

        self.stats = SenderStats()
        self._journal = _Journal(outbox)
        self._translators: dict[str, Translator] = {}
        self._signal = asyncio.Event()  # something changed: re-check
        self._window.on_free(self._signal.set)
        self._rendered: dict[tuple, tuple[str, dict[str, Any]]] = {}  # see _render
        self._woken = False
        self._heap: list[tuple[float, int, int, OutboxRow]] = []
        self._held: Counter[int] = Counter()  # rows in the heap per (claimed) chat id
        self._tasks: set[asyncio.Task[None]] = set()
        self._abandoned: list[int] = []  # rows given up on at shutdown, never sent
        self._moved: dict[int, int] = {}  # migrated group -> supergroup
        self._seq = itertools.count()
        self._more = True  # the last claim was full: more rows may be due
        self._last_claim = -math.inf
        self._last_renewal = self._clock()
        self._renewal: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ public

    def wake(self) -> None:
        """New rows are queued: look now rather than at the next idle check."""
        self._woken = True
        self._signal.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set; then finish the sends in hand, record them, return.

        Releases rows a crash left in `sending` first (SPEC 7.4), so only one sender may
        run on a database (the bot's database lock guarantees it)."""
        released = await self._outbox.release_in_flight(self._wall())
        if released:
            log.info("%d message(s) in flight at the last stop are queued again", len(released))
        # One of them may have reached its chat just before a crash, after the last send
        # recorded: its chat's own limit (1/s, 20/min) counts it as sent now.
        now = self._clock()
        for chat_id in set(released):
            self._pacer.hold_chat(chat_id, chat_id > 0, now)
        await self._after_the_last_send(stop)
        await self._drain(stop, until_idle=False)

    async def _after_the_last_send(self, stop: asyncio.Event) -> None:
        """A copy restarted right after a crash must not pass Telegram's limits together
        with the last sends of the process before it, which this pacer never saw: the
        first send waits until a second has passed since the last recorded one (`sent_at`
        holds whole seconds, hence two). The chats of messages in flight at the crash,
        sent after that, are held by `run()`."""
        last = await self._outbox.last_sent_at()
        if last is None:
            return
        wait = (last + RESTART_GAP - self._wall()).total_seconds()
        if wait <= 0:
            return
        log.info("first send in %.1f s: the last one was at %s", wait, last.isoformat())
        sleeper = asyncio.ensure_future(self._sleep(wait))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()

    async def run_until_idle(self, stop: asyncio.Event | None = None) -> None:
        """Send everything due now and return (tests, benchmarks, one-shot tools).

        Rows put back for later (backoff, a chat at its limit) are left for later."""
        await self._drain(stop or asyncio.Event(), until_idle=True)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    # ------------------------------------------------------------ the dispatcher

    async def _drain(self, stop: asyncio.Event, until_idle: bool) -> None:
        watcher = asyncio.create_task(self._watch(stop))
        self._more = True
        self._last_claim = -math.inf
        try:
            while not stop.is_set():
                try:
                    if not await self._step(stop, until_idle):
                        return
                except Exception:
                    if until_idle:
                        raise
                    # The database, not one chat: nothing is lost (rows stay in the outbox).
                    log.exception("sender: unexpected error; going on in %.0f s", ERROR_PAUSE)
                    await self._nap(ERROR_PAUSE)
        finally:
            watcher.cancel()
            await self._finish()

    async def _step(self, stop: asyncio.Event, until_idle: bool) -> bool:
        """One turn of the dispatcher; False when `until_idle` and nothing is due."""
        if self._clock() - self._last_renewal >= LEASE_RENEWAL and self._renewal is None:
            # Beside the dispatcher, not in its way: a send never waits for a renewal.
            self._last_renewal = self._clock()
            self._renewal = asyncio.create_task(self._renew())
        if self._woken or self._clock() - self._last_claim >= self._idle_timeout:
            self._woken = False
            self._more = True  # the outbox may hold due rows we have not claimed
        if self._more and len(self._heap) < self._batch_size and self._may_claim():
            rows = await self._outbox.claim(self._batch_size, self._wall())
            self._last_claim = self._clock()
            self._more = len(rows) == self._batch_size
            await self._admit(rows)
        if not self._heap:
            if until_idle and not self._tasks and not self._more:
                return False
            await self._nap(None if self._tasks else self._idle_timeout)
            return True
        ready_at = self._heap[0][0]
        now = self._clock()
        if ready_at > now:
            await self._nap(ready_at - now)
        elif self._window.in_flight >= self._window.size:
            await self._nap(None)
        else:
            await self._dispatch(self._pop(), now, stop)
        return True

    async def _admit(self, rows: list[OutboxRow]) -> None:
        """Claimed rows enter the heap, at most `per_chat` of one chat: the others would
        only wait for their chat's turn (1 s, or 3 s in a group) while blocking claims, so
        they go back to the outbox due when their turn should come."""
        now, wall = self._clock(), self._wall()
        later: list[Outcome] = []
        extra: Counter[int] = Counter()
        for row in rows:
            spacing = self._pacer.spacing(row.is_private)
            held = self._held[row.chat_id]
            if not spacing or held < self._per_chat:
                self._push(0.0, row)
                continue
            extra[row.chat_id] += 1
            chat_id = self._moved.get(row.chat_id, row.chat_id)
            wait = self._pacer.chat_delay(chat_id, row.is_private, now)
            wait += (held + extra[row.chat_id] - 1) * spacing
            later.append(Retry(row.outbox_id, wall + timedelta(seconds=wait), attempt=False))
        if later:
            self.stats.deferred += len(later)
            await self._journal.write_all(later)

    def _push(self, ready_at: float, row: OutboxRow) -> None:
        heapq.heappush(self._heap, (ready_at, -row.priority, next(self._seq), row))
        self._held[row.chat_id] += 1

    def _pop(self) -> OutboxRow:
        row = heapq.heappop(self._heap)[3]
        self._held[row.chat_id] -= 1
        if not self._held[row.chat_id]:
            del self._held[row.chat_id]
        return row

    async def _dispatch(self, row: OutboxRow, now: float, stop: asyncio.Event) -> None:
        chat_id = self._moved.get(row.chat_id, row.chat_id)
        chat_wait = self._pacer.chat_delay(chat_id, row.is_private, now)
        if chat_wait > self._hold:
            self.stats.deferred += 1
            later = self._wall() + timedelta(seconds=chat_wait)
            await self._journal.write(Retry(row.outbox_id, later, attempt=False))
            return
        if self._window.busy(chat_id):  # never two requests at once to one chat
            self._push(now + BUSY_RECHECK, row)
            return
        if not self._may_claim():  # fenced: the row's lease passes to the next leader
            return
        wait = self._pacer.reserve(chat_id, row.is_private, now)
        if wait > 0:
            self._push(now + wait, row)
            return
        self._window.start(chat_id)  # booked and leaving now: the pace is judged here
        task = asyncio.create_task(self._deliver(row, chat_id, stop))
        self._tasks.add(task)
        task.add_done_callback(self._send_done)

    def _send_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._signal.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("send task crashed", exc_info=task.exception())

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._signal.set()

    async def _nap(self, seconds: float | None) -> None:
        """Wait up to `seconds` (None: no limit) for wake(), a finished send or stop."""
        if self._signal.is_set():
            self._signal.clear()
            return
        if seconds is None:
            await self._signal.wait()
        else:
            waiter = asyncio.create_task(self._signal.wait())
            sleeper = asyncio.create_task(self._sleep(seconds))
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                sleeper.cancel()
                await asyncio.gather(waiter, sleeper, return_exceptions=True)
        self._signal.clear()

    async def _renew(self) -> None:
        try:
            await self._outbox.renew_leases(self._wall())
        except Exception:  # the next renewal tries again; the lease has 10 s to spare
            log.exception("sender: renewing the leases of held rows failed")
        finally:
            self._renewal = None

    async def _finish(self) -> None:
        """Let the sends in hand complete (bounded), store every result, release the rest."""
        if self._renewal is not None:
            await asyncio.gather(self._renewal, return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self._shutdown_grace)
            if pending:
                log.warning("%d send(s) still running at shutdown: cancelled", len(pending))
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        unsent = [entry[3].outbox_id for entry in self._heap] + self._abandoned
        self._heap.clear()
        self._held.clear()
        self._abandoned.clear()
        try:
            await self._journal.flush()
            await self._outbox.release(unsent)
        except Exception:
            log.exception("could not store the last results; the next start re-queues them")

    # ---------------------------------------------------------------- one row

    async def _deliver(self, row: OutboxRow, chat_id: int, stop: asyncio.Event) -> None:
        """One row, from its request to its stored result; its place in the window is
        held until then (the duplicate bound, module docstring)."""
        try:
            try:
                outcome = await self._attempt(row, chat_id, stop)
            except Exception:  # storage failed while handling an error: try the row later
                log.exception("outbox row %d (chat %d): handling failed", row.outbox_id, chat_id)
                outcome = Retry(row.outbox_id, self._wall() + timedelta(seconds=ERROR_PAUSE))
            if outcome is None:
                return
            try:
                await self._journal.write(outcome)
            except Exception:  # kept in the journal: the next write or the shutdown stores it
                log.exception("outbox row %d: storing the result failed", row.outbox_id)
        finally:
            self._window.finish(chat_id)

    async def _attempt(self, row: OutboxRow, chat_id: int, stop: asyncio.Event) -> Outcome | None:
        """Send one row, retrying in place what SPEC 7.3 retries at once; None when the
        row needs no result (its chat was dropped, or shutdown came during a pause)."""
        plain = False
        photo = self._photo(row)
        migrations = 0
        while True:
            started = self._clock()
            try:
                message_id = await self._send(row, chat_id, plain, photo)
            except TelegramRetryAfter as error:
                await self._paused(error.retry_after, chat_id)
            except TelegramMigrateToChat as error:
                if migrations >= MAX_MIGRATIONS:
                    return self._fail(row, chat_id, "migrate_loop", error)
                migrations += 1
                chat_id = await self._migrate(row, chat_id, error.migrate_to_chat_id)
            except TelegramForbiddenError as error:
                await self._drop_chat(chat_id, error)
                return None
            except TelegramBadRequest as error:
                text = error.message.lower()
                if photo is not None and _photo_refused(text, plain):
                    # SPEC 7.5: a picture Telegram refuses (cannot fetch it, not an image,
                    # too big ...) costs the post its photo, not the post.
                    log.warning(
                        "outbox row %d (chat %d): Telegram refused the picture (%s);"
                        " sending the post as text",
                        row.outbox_id,
                        chat_id,
                        error.message,
                    )
                    self.stats.photo_fallbacks += 1
                    photo = None
                elif any(marker in text for marker in _CHAT_GONE):
                    await self._drop_chat(chat_id, error)
                    return None
                elif plain or not _about_markup(text):
                    return self._fail(row, chat_id, "bad_request", error)
                else:
                    log.warning(
                        "outbox row %d (chat %d): Telegram refused the HTML (%s);"
                        " sending plain text",
                        row.outbox_id,
                        chat_id,
                        error.message,
                    )
                    self.stats.plain_fallbacks += 1
                    plain = True
            except (TelegramNetworkError, TelegramServerError, TelegramUnauthorizedError) as error:
                return self._retry(row, chat_id, error)
            except Exception as error:
                log.exception("outbox row %d (chat %d): send failed", row.outbox_id, chat_id)
                return self._fail(row, chat_id, "other", error)
            else:
                self.stats.sent += 1
                self.stats.send_seconds += max(0.0, self._clock() - started)
                return Sent(row.outbox_id, message_id, self._wall(), photo=photo is not None)
            # Retrying the same row: it waits for its turn like any other send.
            if not await self._slot(chat_id, row.is_private, stop):
                self._abandoned.append(row.outbox_id)
                return None

    @staticmethod
    def _photo(row: OutboxRow) -> str | None:
        """The picture to post, if this row goes out as a photo (SPEC 7.5): an article
        that has one, to a channel or group whose photo posts are on."""
        if row.text is not None or row.image is None or row.is_private or not row.photos:
            return None
        return row.image

    async def _send(self, row: OutboxRow, chat_id: int, plain: bool, photo: str | None) -> int:
        """One request; the sent message's id."""
        started = self._clock()
        if photo is not None:
            caption, _ = self._render(row, plain, MAX_CAPTION_LENGTH)
            payload = photo_payload(
                chat_id,
                photo,
                caption,
                parse_mode=None if plain else ParseMode.HTML,
                silent=row.silent,
                thread_id=row.thread_id,
            )
            timeout = max(self._request_timeout, PHOTO_REQUEST_TIMEOUT)
            message_id = await send_photo(self._bot, payload, timeout)
        else:
            if row.text is not None:
                text = html_to_text(row.text) if plain else row.text
                preview = NO_PREVIEW
            else:
                text, preview = self._render(row, plain)
            payload = message_payload(
                chat_id,
                text,
                parse_mode=None if plain else ParseMode.HTML,
                link_preview=preview,
                silent=row.silent,
                thread_id=row.thread_id,
            )
            message_id = await send_message(self._bot, payload, self._request_timeout)
        self._window.observe(self._clock() - started)
        return message_id

    def _render(
        self, row: OutboxRow, plain: bool, limit: int = MAX_MESSAGE_LENGTH
    ) -> tuple[str, dict[str, Any]]:
        """An article's push is the same for every reader of one language: render it once.
        Keyed by what the text shows, so a corrected breaking item is rendered anew.
        `limit` is 1,024 for a photo's caption: the summary is cut, never the link."""
        key = (
            row.language,
            plain,
            limit,
            row.previews,
            row.title,
            row.summary,
            row.link,
            row.source,
            row.topics,
        )
        rendered = self._rendered.get(key)
        if rendered is None:
            t = self._translators.get(row.language)
            if t is None:
                t = self._translators[row.language] = self._catalogue.translator(row.language)
            render = render_plain if plain else render_html
            text = render(row, t, limit, hashtag=self._hashtag)
            preview = preview_options(link_preview(row)) if row.previews else NO_PREVIEW
            rendered = (text, preview)
            if len(self._rendered) >= RENDER_CACHE:
                self._rendered.pop(next(iter(self._rendered)))
            self._rendered[key] = rendered
        return rendered

    async def _slot(self, chat_id: int, is_private: bool, stop: asyncio.Event) -> bool:
        """Wait until the pacer lets this chat send and book it; False on shutdown."""
        while True:
            wait = self._pacer.reserve(chat_id, is_private, self._clock())
            if wait <= 0:
                return True
            if stop.is_set():
                return False
            await self._sleep_or_stop(wait, stop)

    async def _sleep_or_stop(self, seconds: float, stop: asyncio.Event) -> None:
        sleeper = asyncio.create_task(self._sleep(seconds))
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
            await asyncio.gather(sleeper, stopper, return_exceptions=True)

    # --------------------------------------------------------------- outcomes

    async def _paused(self, retry_after: float, chat_id: int) -> None:
        """A 429 pauses every send (SPEC 7.3); only a pause that extends the current one
        is reported, so concurrent 429s make one alert."""
        now = self._clock()
        extends = now + retry_after > self._pacer.paused_until + 1.0
        self._pacer.pause_until(now + retry_after)
        self.stats.pauses += 1
        if not extends:
            return
        if retry_after <= LONG_PAUSE_SECONDS:
            log.warning(
                "Telegram asked to wait %s s (chat %d): all sending paused", retry_after, chat_id
            )
            return
        text = (
            f"Telegram flood control: all sending is paused for {retry_after:.0f} s "
            f"({retry_after / 60:.0f} min, RetryAfter on chat {chat_id})."
        )
        log.error("ALERT: %s", text)
        if self._alert is not None:
            try:
                await self._alert(text)
            except Exception:
                log.exception("could not report the pause to admins")

    async def _migrate(self, row: OutboxRow, old_id: int, new_id: int) -> int:
        """The group is a supergroup now: it keeps its settings and queue (SPEC 8.4)."""
        await self._outbox.move_chat(old_id, new_id, self._wall())
        self._moved[old_id] = new_id
        self._moved[row.chat_id] = new_id
        self.stats.migrated += 1
        log.info("chat %d migrated to supergroup %d", old_id, new_id)
        return new_id

    async def _drop_chat(self, chat_id: int, error: BaseException) -> None:
        """Blocked, kicked, deleted or without rights: the chat gets nothing more until it
        comes back (/start, or an admin re-adds the channel)."""
        reason = _describe(error)
        await self._chats.set_active(chat_id, False)
        dropped = await self._outbox.drop_chat(chat_id, reason)
        before = len(self._heap)
        self._heap = [
            e for e in self._heap if self._moved.get(e[3].chat_id, e[3].chat_id) != chat_id
        ]
        if len(self._heap) != before:
            heapq.heapify(self._heap)
            self._held = Counter(entry[3].chat_id for entry in self._heap)
        self.stats.deactivated += 1
        self.stats.dropped += dropped
        log.info("chat %d deactivated (%s); %d queued message(s) dropped", chat_id, reason, dropped)

    def _retry(self, row: OutboxRow, chat_id: int, error: BaseException) -> Outcome:
        attempts = row.attempts + 1
        if attempts >= self._max_attempts:
            return self._fail(row, chat_id, "gave_up", error)
        delay = min(MAX_RETRY_DELAY, self._backoff * 2 ** (attempts - 1))
        # A network error or 5xx is rarely about one chat: pause everything, so an outage
        # costs the row in hand one attempt per pause instead of failing the whole queue,
        # and then probe with one request at a time until one succeeds: a full window
        # after every pause would spend eight attempts on each look at a dead Telegram.
        self._pacer.pause_until(self._clock() + delay)
        self._window.probe()
        self.stats.retried += 1
        log.warning(
            "outbox row %d (chat %d): %s; retry %d in %.0f s",
            row.outbox_id,
            chat_id,
            _describe(error),
            attempts,
            delay,
        )
        return Retry(row.outbox_id, self._wall() + timedelta(seconds=delay), _describe(error))

    def _fail(self, row: OutboxRow, chat_id: int, reason: str, error: BaseException) -> Outcome:
        self.stats.failed[reason] += 1
        log.warning(
            "outbox row %d (chat %d, article %s) failed: %s",
            row.outbox_id,
            chat_id,
            row.article_id,
            _describe(error),
        )
        return Failed(row.outbox_id, _describe(error), reason, self._wall())
