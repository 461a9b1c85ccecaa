"""The storage unit tests run on both backends: `db` is a migrated database, SQLite in
a temp folder or a new database on this worker's throwaway PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from pg_server import BACKENDS

from bot.feeds.fetch import Fetcher, create_session
from storage.database import Database


@pytest_asyncio.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        target: Path | str = await request.getfixturevalue("pg_server").create_database()
    else:
        target = tmp_path / "bot.sqlite3"
    database = await Database.open(target)
    try:
        yield database
    finally:
        await database.close()


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The bot's HTTP session for feeds (`create_session`), closed after the test."""
    async with create_session() as client_session:
        yield client_session


@pytest.fixture
def fetcher(session: aiohttp.ClientSession) -> Fetcher:
    """The bot's Fetcher with a short timeout, for tests against the local feed server."""
    return Fetcher(session, timeout=2.0)
