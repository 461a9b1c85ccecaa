"""The shared backend: PostgreSQL through an asyncpg pool (DATABASE_URL, SPEC 8c).

Every connection talks UTC. Queries arrive in the one spelling of storage/sql.py and are
rewritten once per text. Migrations run under a transaction-scoped advisory lock, so
copies of the bot starting together apply each one once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.database import Connection, Database, Row, utcnow
from storage.schema import CREATE_TABLE, migrations, pending
from storage.sql import Params, postgres, rowcount

log = logging.getLogger(__name__)

# Advisory lock keys: the migration step ("newsbot" in ASCII, as a number), and the
# running copy (held for the life of the process on a connection of its own).
MIGRATION_LOCK = 0x6E657773626F74
COPY_LOCK = MIGRATION_LOCK + 1
SERVER_SETTINGS = {"timezone": "UTC"}
# A half-open connection (a cut network, a host gone) must fail a statement, not hang it
# with the write lock held; and connecting must not outlast a SIGTERM's grace.
COMMAND_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0


def redact(url: str) -> str:
    """The URL with its password replaced, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class _PooledConnection(asyncpg.Connection):
    """Returned to the pool without asyncpg's reset query (`RESET ALL`, `UNLISTEN *`, ...),
    a round trip per read: the bot never changes a pooled connection's session state
    (its locks live on connections of their own). An open transaction is still ended."""

    def get_reset_query(self) -> str:
        return ""


class PostgresConnection(Connection):
    dialect = "postgresql"

    def __init__(self, connection: asyncpg.Connection | asyncpg.Pool) -> None:
        """A connection in a transaction, or the pool for reads outside one (a pool
        answers the same calls, each on a connection it lends)."""
        self._connection = connection

    async def execute(self, sql: str, params: Params = ()) -> int:
        text, args = postgres(sql, params)
        return rowcount(await self._connection.execute(text, *args))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        batch = [postgres(sql, row) for row in rows]
        if batch:
            await self._connection.executemany(batch[0][0], [args for _, args in batch])

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        text, args = postgres(sql, params)
        return list(await self._connection.fetch(text, *args))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        text, args = postgres(sql, params)
        return await self._connection.fetchrow(text, *args)


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        super().__init__()
        self.pool = pool
        self.url = url
        self._reads = PostgresConnection(pool)
        self._lock_connection: asyncpg.Connection | None = None
        self._writer: asyncpg.Connection | None = None

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = 10, **options: Any) -> PostgresDatabase:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=pool_size,
            server_settings={**SERVER_SETTINGS, "application_name": f"newsbot-pool-{os.getpid()}"},
            connection_class=_PooledConnection,
            command_timeout=COMMAND_TIMEOUT,
            timeout=CONNECT_TIMEOUT,
            **options,
        )
        database = cls(pool, url)
        try:
            await database.migrate()
        except BaseException:
            await pool.close()
            raise
        return database

    async def close(self) -> None:
        """Close every connection, each on its own: one that hangs (a cut network) is
        terminated after a moment and does not keep the others open."""
        for connection in (self._writer, self._lock_connection):
            if connection is not None and not connection.is_closed():
                try:
                    await connection.close(timeout=2)
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    connection.terminate()
        try:
            await asyncio.wait_for(self.pool.close(), 5)
        except TimeoutError:
            self.pool.terminate()

    async def _writer_connection(self) -> asyncpg.Connection:
        """The connection of every write transaction. Writes are serialised anyway (the
        write lock), and one long-lived connection saves each of them a pool checkout and
        the reset query of its return: a third of a small transaction's round trips. A
        connection the server dropped is replaced at the next transaction."""
        if self._writer is None or self._writer.is_closed():
            self._writer = await asyncpg.connect(
                self.url,
                server_settings={**SERVER_SETTINGS, "application_name": self.name("writer")},
                command_timeout=COMMAND_TIMEOUT,
                timeout=CONNECT_TIMEOUT,
            )
        return self._writer

    async def try_leader_lock(self) -> bool:
        """Take the leader's session lock, on a connection kept for it: the server frees
        it when this process dies, even by SIGKILL. False while another copy holds it."""
        if self._lock_connection is not None and not self._lock_connection.is_closed():
            await self._lock_connection.close()
        connection = await asyncpg.connect(
            self.url,
            server_settings={**SERVER_SETTINGS, "application_name": self.name("lock")},
            command_timeout=COMMAND_TIMEOUT,
            timeout=CONNECT_TIMEOUT,
        )
        try:
            held = await connection.fetchval("SELECT pg_try_advisory_lock($1)", COPY_LOCK)
        except BaseException:
            await connection.close()
            raise
        if held:
            self._lock_connection = connection
            return True
        await connection.close()
        return False

    async def leader_lock_alive(self, within: float) -> bool:
        """Whether the lock's connection answers within `within` seconds (then the lock
        is still ours)."""
        connection = self._lock_connection
        if connection is None or connection.is_closed():
            return False
        try:
            await connection.fetchval("SELECT 1", timeout=within)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    def name(self, role: str) -> str:
        """`application_name` of this process's connections, as pg_stat_activity shows
        them: `newsbot-<role>-<pid>`."""
        return f"newsbot-{role}-{os.getpid()}"

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._reads.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return await self._reads.fetch_one(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """asyncpg runs a batch atomically on its own (one implicit transaction), so
        this costs one round trip instead of BEGIN, the batch and COMMIT."""
        batch = [postgres(sql, row) for row in rows]
        if not batch:
            return
        async with self._write_lock:
            connection = await self._writer_connection()
            await connection.executemany(batch[0][0], [args for _, args in batch])

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._write_lock:
            connection = await self._writer_connection()
            async with connection.transaction():
                yield PostgresConnection(connection)

    async def migrate(self) -> int:
        async with self._write_lock:
            connection = await self._writer_connection()
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                await connection.execute(CREATE_TABLE)
                rows = await connection.fetch(
                    "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
                )
                applied = [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
                for migration in pending(applied, migrations("postgresql")):
                    log.info("applying migration %s", migration.name)
                    await connection.execute(migration.sql)
                    await connection.execute(
                        "INSERT INTO schema_migrations VALUES ($1, $2, $3, $4)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                        utcnow(),
                    )
        return await self.schema_version()

    async def _table_names(self) -> Sequence[str]:
        rows = await self.fetch_all(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        return [row[0] for row in rows]
