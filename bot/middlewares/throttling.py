"""Per-user flood control for commands and button presses (SPEC 4.10).

A reader gets a burst of `capacity` updates, refilled at `rate` a second. The first update
over the limit is answered once with "slow down"; the rest of the flood is dropped
silently, and what the refill lets through meanwhile is served without a second notice:
the flood ends only when the reader's bucket is full again (they were quiet for
`capacity / rate` seconds), so a flood costs the bot one "slow down", however long it is.

Only private chats are throttled: in groups and channels the bot answers nobody (a "slow
down" there would speak in a chat where it must stay silent), and a service message such
as a group's migration must never be dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.i18n import Catalogue, language_for
from bot.pacing import TokenBucket

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def _private(event: TelegramObject) -> bool:
    if isinstance(event, CallbackQuery):
        return event.message is not None and event.message.chat.type == "private"
    return isinstance(event, Message) and event.chat.type == "private"


class ThrottlingMiddleware(BaseMiddleware):
    def __init__(
        self,
        catalogue: Catalogue,
        capacity: float = 10,
        rate: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = 10_000,
    ) -> None:
        self._catalogue = catalogue
        self._capacity = capacity
        self._rate = rate
        self._clock = clock
        self._max_tracked = max_tracked
        self._buckets: dict[int, TokenBucket] = {}
        self._warned: set[int] = set()

    def _forget_idle(self, now: float) -> None:
        """Bound memory: users whose bucket refilled are indistinguishable from new ones."""
        for user_id in [uid for uid, b in self._buckets.items() if b.is_full(now)]:
            del self._buckets[user_id]
            self._warned.discard(user_id)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = getattr(event, "from_user", None)
        if user is None or not _private(event):
            return await handler(event, data)
        now = self._clock()
        bucket = self._buckets.get(user.id)
        if bucket is None:
            if len(self._buckets) >= self._max_tracked:
                self._forget_idle(now)
            bucket = self._buckets[user.id] = TokenBucket(self._capacity, self._rate, updated=now)
        if bucket.is_full(now):  # quiet long enough: any earlier flood is over
            self._warned.discard(user.id)
        if bucket.try_take(now):
            return await handler(event, data)
        if user.id in self._warned:
            return None
        self._warned.add(user.id)
        log.info("throttled user_id=%s", user.id)
        chat = await data["readers"].chat(user.id) if "readers" in data else None
        t = self._catalogue.translator(chat.language if chat else language_for(user.language_code))
        if isinstance(event, Message):
            await event.answer(t("errors.throttled"))
        elif isinstance(event, CallbackQuery):
            await event.answer(t.plain("errors.throttled"))
        return None
