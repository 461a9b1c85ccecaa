"""The storage unit tests run on both backends: `db` is a migrated database, SQLite in
a temp folder or a new database on this worker's throwaway PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pg_server import BACKENDS

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
