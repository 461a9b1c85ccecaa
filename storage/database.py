"""The database the repositories share: one interface, a SQLite and a PostgreSQL backend.

Repositories see `Database` (reads, one-statement writes, `transaction()`) and, inside a
transaction, `Connection`; both take the one SQL spelling of storage/sql.py. Writes are
serialised within a process on both backends (an asyncio lock around each short
transaction): the repositories' read-then-write steps assume one writer at a time, as
SQLite gives it. Between processes on PostgreSQL, row locks and `FOR UPDATE SKIP LOCKED`
keep two copies apart.
"""

from __future__ import annotations

import abc
import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from storage.sql import Params

# sqlite3.Row or asyncpg.Record: both read by column name and by position.
Row = Any


class StorageSkipped(RuntimeError):
    """Raised by a caller that skips its writes after one already failed this round."""


# What a failing database raises, whichever backend: callers that must survive a bad
# moment (the poller) catch these. Not OSError: a feed's network error is one too.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    StorageSkipped,
)


def utcnow() -> str:
    """Timestamps are stored as ISO 8601 UTC text on both backends: sortable, readable in
    either shell, and compared the same way by both."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Reads(abc.ABC):
    """Queries, on a database or on a connection inside a transaction."""

    @abc.abstractmethod
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abc.abstractmethod
    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]


class Connection(Reads):
    """A connection inside an open transaction."""

    dialect: str

    @abc.abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the rows it changed."""

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...


class Database(Reads):
    """The application's database; repositories take it as their only dependency."""

    dialect: str

    def __init__(self) -> None:
        self._write_lock = asyncio.Lock()

    @staticmethod
    async def open(target: Path | str, **options: Any) -> Database:
        """A `postgresql://` URL opens PostgreSQL; anything else is a SQLite file path.
        Migrations are applied (and checked) before it is returned."""
        text = str(target)
        if text.startswith(("postgresql://", "postgres://")):
            from storage.postgres import PostgresDatabase

            return await PostgresDatabase.connect(text, **options)
        from storage.sqlite import SqliteDatabase

        return await SqliteDatabase.connect(Path(target))

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement in a transaction of its own; returns the rows it changed."""
        async with self.transaction() as conn:
            return await conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """One statement over many rows, atomically: all of them or none."""
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A short write transaction: committed on success, rolled back on any error."""

    @abc.abstractmethod
    async def migrate(self) -> int:
        """Check the applied migrations and apply the missing ones; the schema version."""

    async def schema_version(self) -> int:
        rows = await self.applied_migrations()
        return max((version for version, _, _ in rows), default=0)

    async def applied_migrations(self) -> list[tuple[int, str, str]]:
        """(version, name, checksum) of every applied migration, in order."""
        rows = await self.fetch_all(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        )
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def tables(self) -> list[str]:
        """The application's tables (migrate-db copies and counts them)."""
        return sorted(await self._table_names())

    @abc.abstractmethod
    async def _table_names(self) -> Sequence[str]: ...
