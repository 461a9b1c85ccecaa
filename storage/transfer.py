"""`migrate-db`: copy a SQLite database into an empty PostgreSQL one (SPEC 8c).

Both are migrated to the same version first, so their tables have the same columns.
Rows are streamed from SQLite in batches and written with PostgreSQL's COPY, all in one
transaction: a copy that fails half-way leaves the target empty, and can simply be run
again. Identity sequences are moved past the copied ids, so new rows do not collide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from storage.postgres import PostgresDatabase
from storage.sqlite import SqliteDatabase

# Parents before children (foreign keys, and PostgreSQL's check of the outbox's group and
# channel ids, are checked row by row during the copy).
TABLES = (
    "chats",
    "feeds",
    "subscriptions",
    "articles",
    "feed_items",
    "article_topics",
    "outbox",
    "breaking",
    "digest_items",
    "topic_corrections",
    "handled_updates",
    "stats_snapshots",
)
BOOKKEEPING = ("schema_migrations",)
BATCH = 5_000


class TransferError(RuntimeError):
    """The copy cannot start (a non-empty target, an unknown table); nothing was written."""


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        return self.source == self.target


async def _check_tables(source: SqliteDatabase, target: PostgresDatabase) -> None:
    known = set(TABLES) | set(BOOKKEEPING)
    for name, database in (("the SQLite database", source), ("the target", target)):
        unknown = sorted(set(await database.tables()) - known)
        if unknown:
            raise TransferError(f"{name} has tables this version does not know: {unknown}")


async def _nonempty(target: PostgresDatabase) -> list[str]:
    return [t for t in TABLES if await target.fetch_value(f"SELECT count(*) FROM {t}")]


async def copy_database(
    source: SqliteDatabase,
    target: PostgresDatabase,
    progress: Callable[[str, int], None] = lambda table, rows: None,
) -> list[TableCount]:
    """Copy every table; returns the row counts of both sides, per table."""
    await _check_tables(source, target)
    filled = await _nonempty(target)
    if filled:
        raise TransferError(f"the target database is not empty (rows in: {', '.join(filled)})")
    async with target.pool.acquire() as connection, connection.transaction():
        for table in TABLES:
            copied = 0
            async with source.connection.execute(f"SELECT * FROM {table}") as cursor:
                columns = [d[0] for d in cursor.description]
                while rows := await cursor.fetchmany(BATCH):
                    await connection.copy_records_to_table(
                        table, records=[tuple(r) for r in rows], columns=columns
                    )
                    copied += len(rows)
            progress(table, copied)
        identities = await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_identity = 'YES'"
        )
        for row in identities:
            table, column = row["table_name"], row["column_name"]
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
            )
    # Fresh statistics: without them PostgreSQL plans the first fan-out as if the
    # tables were empty (a nested loop over 100,000 readers takes minutes, not a second).
    await target.execute("ANALYZE")
    return [
        TableCount(
            table,
            int(await source.fetch_value(f"SELECT count(*) FROM {table}")),
            int(await target.fetch_value(f"SELECT count(*) FROM {table}")),
        )
        for table in TABLES
    ]
