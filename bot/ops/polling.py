"""Long polling's error handling, where aiogram's own is not enough for SPEC 8b.

A 409 Conflict from `getUpdates` means another process polls the same token (a second
copy of the bot on another machine: the database lock cannot see it). aiogram's polling
loop already retries every failed `getUpdates` after a growing pause (`BackoffConfig`),
so it is never a tight loop; what it lacks is a line an operator understands, so a
request middleware (aiogram's public session API) says what is going on.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramConflictError
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.utils.backoff import BackoffConfig

log = logging.getLogger(__name__)

# aiogram's default (1 s growing by 1.3 up to 5 s) is not tight, but against another
# instance a 5 s cap keeps stealing its polls; 30 s makes the conflict cheap while an
# operator stops one copy. Network outages share the same backoff.
POLLING_BACKOFF = BackoffConfig(min_delay=1.0, max_delay=30.0, factor=1.5, jitter=0.1)


class ConflictReporter(BaseRequestMiddleware):
    """Log every 409 Conflict of `getUpdates` plainly, and the recovery once."""

    def __init__(self) -> None:
        self.conflicts = 0  # in a row

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if not isinstance(method, GetUpdates):
            return await make_request(bot, method)
        try:
            response = await make_request(bot, method)
        except TelegramConflictError:
            self.conflicts += 1
            log.error(
                "another bot instance is polling this token (409 Conflict from getUpdates, "
                "%d in a row): stop the other copy or give this one its own token; "
                "polling retries with backoff",
                self.conflicts,
            )
            raise
        if self.conflicts:
            log.warning(
                "polling resumed after %d conflict(s): no other instance polls this token now",
                self.conflicts,
            )
            self.conflicts = 0
        return response
