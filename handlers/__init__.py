"""aiogram routers only: thin handlers that call services from `bot/`."""

from aiogram import Router

from handlers.errors import errors_router
from handlers.reader import reader_router


def build_router() -> Router:
    root = Router(name="root")
    root.include_routers(errors_router(), reader_router())
    return root
