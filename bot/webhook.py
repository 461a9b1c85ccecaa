"""Webhook mode (SPEC 3): Telegram POSTs each update to WEBHOOK_URL; we serve it on
WEB_HOST:WEB_PORT, usually behind a reverse proxy that terminates TLS.

Only requests that carry WEBHOOK_SECRET in `X-Telegram-Bot-Api-Secret-Token` are
processed; anything else gets 401 and never reaches a handler. An update is answered 200
only once it has been handled, so an update in hand when the process dies is delivered
again by Telegram, and a redelivery of one already handled is recognised by its
`update_id` and not handled twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

from storage.updates import UpdateLog

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
REFUSAL_LOG_INTERVAL = 60.0  # a scanner hammering the URL costs one log line a minute


def webhook_path(url: str) -> str:
    """The path Telegram will POST to: the one in WEBHOOK_URL (a proxy passes it on)."""
    return urlsplit(url).path or "/"


class RefusalLog:
    """Count refused requests and log them at most once per interval."""

    def __init__(self, interval: float = REFUSAL_LOG_INTERVAL) -> None:
        self._interval = interval
        self._last = -interval
        self._count = 0

    def refused(self, reason: str, remote: str | None) -> None:
        self._count += 1
        now = time.monotonic()
        if now - self._last >= self._interval:
            log.warning(
                "webhook request refused: %s (from %s; %d refused since the last line)",
                reason,
                remote or "?",
                self._count,
            )
            self._last = now
            self._count = 0


class WebhookHandler(SimpleRequestHandler):
    """aiogram's handler, made strict: 401 without the secret, 400 for a body that is
    not an update, 200 after the update was handled (not before), duplicates skipped."""

    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, secret: str, handled: UpdateLog, **data: Any
    ) -> None:
        super().__init__(dispatcher, bot, handle_in_background=False, secret_token=secret, **data)
        self._handled = handled  # in the database: any copy recognises a redelivery
        self._refusals = RefusalLog()

    async def close(self) -> None:
        """`main()` owns the Bot session: the sender still needs it after the server."""

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        expected = self.secret_token or ""
        return bool(expected) and secrets.compare_digest(
            telegram_secret_token.encode(), expected.encode()
        )

    async def handle(self, request: web.Request) -> web.Response:
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), self.bot):
            self._refusals.refused("missing or wrong secret token", request.remote)
            return web.Response(status=401, text="Unauthorized")
        try:
            payload = await request.json()
            update = Update.model_validate(payload, context={"bot": self.bot})
        except (ValueError, ValidationError):
            self._refusals.refused("the body is not a Telegram update", request.remote)
            return web.Response(status=400, text="Bad Request")
        if await self._handled.seen(update.update_id):
            log.info("update %d delivered again by Telegram: already handled", update.update_id)
            return web.json_response({})
        result = await self.dispatcher.feed_webhook_update(self.bot, update, **self.data)
        await self._handled.record(update.update_id)
        return web.Response(body=self._build_response_writer(bot=self.bot, result=result))


def build_app(
    dispatcher: Dispatcher, bot: Bot, url: str, secret: str, handled: UpdateLog
) -> web.Application:
    # Updates are a few kB; a megabyte is the most a forged body can make us read.
    app = web.Application(client_max_size=1024 * 1024)
    WebhookHandler(dispatcher, bot, secret, handled).register(app, path=webhook_path(url))
    return app
