"""The embedded backend: one aiosqlite connection per process, WAL mode, foreign keys.

SQLite allows one writer at a time and aiosqlite serialises statements on its single
connection anyway, so a transaction is `BEGIN IMMEDIATE` under the write lock for the
few statements of one short transaction (the datasette pattern). Reads need no lock.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from storage.database import Connection, Database, Row, utcnow
from storage.schema import CREATE_TABLE, migrations, pending
from storage.sql import Params, sqlite_params

log = logging.getLogger(__name__)


class SqliteConnection(Connection):
    dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._connection.execute(sql, sqlite_params(params))
        count = cursor.rowcount
        await cursor.close()
        return count

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._connection.executemany(sql, [sqlite_params(row) for row in rows])

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._connection.execute(sql, sqlite_params(params)) as cursor:
            return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._connection.execute(sql, sqlite_params(params)) as cursor:
            return await cursor.fetchone()


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection) -> None:
        super().__init__()
        self.connection = connection  # for tests that reach below the interface
        self._conn = SqliteConnection(connection)

    @classmethod
    async def connect(cls, path: Path) -> SqliteDatabase:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = aiosqlite.Row
        try:
            await connection.execute("PRAGMA journal_mode = WAL")
            await connection.execute("PRAGMA synchronous = NORMAL")
            await connection.execute("PRAGMA foreign_keys = ON")
            await connection.execute("PRAGMA busy_timeout = 5000")
            database = cls(connection)
            await database.migrate()
        except BaseException:
            await connection.close()
            raise
        return database

    async def close(self) -> None:
        await self.connection.close()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._conn.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return await self._conn.fetch_one(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._write_lock:
            try:
                # Inside the try: a task cancelled while BEGIN runs must still roll back,
                # or the connection stays in a transaction and every later one fails.
                await self.connection.execute("BEGIN IMMEDIATE")
                yield self._conn
            except BaseException:
                if self.connection.in_transaction:
                    await self.connection.rollback()
                raise
            await self.connection.commit()

    async def migrate(self) -> int:
        """Apply the missing migrations, each in its own transaction with its record.

        A database from before `schema_migrations` (only `PRAGMA user_version`) has its
        applied versions recorded with the shipped checksums first."""
        async with self._write_lock:
            await self.connection.execute(CREATE_TABLE)
            shipped = migrations("sqlite")
            applied = await self.applied_migrations()
            if not applied:
                legacy = int(await self._conn.fetch_value("PRAGMA user_version") or 0)
                for migration in shipped[:legacy]:
                    await self.connection.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                        (migration.version, migration.name, migration.checksum, utcnow()),
                    )
                applied = await self.applied_migrations()
            for migration in pending(applied, shipped):
                log.info("applying migration %s", migration.name)
                record = (
                    f"INSERT INTO schema_migrations VALUES ({migration.version},"
                    f" '{migration.name}', '{migration.checksum}', '{utcnow()}');"
                )
                # executescript() commits first; the script carries its own transaction.
                await self.connection.executescript(
                    f"BEGIN IMMEDIATE;\n{migration.sql}\n{record}\n"
                    f"PRAGMA user_version = {migration.version};\nCOMMIT;"
                )
        return await self.schema_version()

    async def _table_names(self) -> Sequence[str]:
        rows = await self.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        return [row[0] for row in rows]
