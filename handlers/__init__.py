"""aiogram routers only: thin handlers that call services from `bot/`."""

from aiogram import Router

from handlers.admin import admin_router, migration_router
from handlers.editor import editor_router
from handlers.errors import errors_router
from handlers.reader import reader_router
from handlers.schedule import schedule_router


def build_router() -> Router:
    root = Router(name="root")
    # Staff routers come before the reader's, whose catch-alls answer any other command.
    root.include_routers(
        errors_router(),
        migration_router(),
        admin_router(),
        editor_router(),
        schedule_router(),
        reader_router(),
    )
    return root
