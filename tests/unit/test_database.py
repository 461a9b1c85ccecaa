"""The database layer on both backends: migrations applied once and checked by checksum,
transactions that roll back whole."""

from pathlib import Path

import pytest
import pytest_asyncio
from pg_server import BACKENDS

from storage.database import STORAGE_ERRORS, Database
from storage.schema import MigrationError, migrations
from storage.transfer import BOOKKEEPING, TABLES


@pytest_asyncio.fixture(params=BACKENDS)
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a database can be opened and opened again: a file, or an empty database."""
    if request.param == "postgresql":
        return await request.getfixturevalue("pg_server").create_database()
    return tmp_path / "sub" / "bot.sqlite3"


async def test_a_fresh_database_gets_every_migration_with_its_checksum(db):
    shipped = migrations(db.dialect)
    assert await db.schema_version() == len(shipped)
    applied = await db.applied_migrations()
    assert applied == [(m.version, m.name, m.checksum) for m in shipped]


async def test_both_backends_ship_the_same_versions():
    sqlite = [m.name for m in migrations("sqlite")]
    postgresql = [m.name for m in migrations("postgresql")]
    assert sqlite == postgresql


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        assert (await db.fetch_one("PRAGMA journal_mode"))[0] == "wal"
        assert (await db.fetch_one("PRAGMA foreign_keys"))[0] == 1
    finally:
        await db.close()


async def test_reopening_applies_nothing_twice(target):
    db = await Database.open(target)
    first = await db.applied_migrations()
    await db.close()
    db = await Database.open(target)
    try:
        assert await db.migrate() == len(first)
        assert await db.applied_migrations() == first
    finally:
        await db.close()


async def test_a_migration_edited_after_it_was_applied_is_refused(target):
    db = await Database.open(target)
    try:
        # What an edited file looks like from the database: a checksum that differs.
        await db.execute("UPDATE schema_migrations SET checksum = 'f00d' WHERE version = 2")
    finally:
        await db.close()
    with pytest.raises(MigrationError, match=r"0002_articles_outbox\.sql was changed"):
        await Database.open(target)


async def test_a_database_of_a_newer_bot_is_refused(target):
    db = await Database.open(target)
    try:
        await db.execute(
            "INSERT INTO schema_migrations VALUES (99, '0099_future.sql', 'abc', 'x')"
        )
    finally:
        await db.close()
    with pytest.raises(MigrationError, match=r"0099_future\.sql"):
        await Database.open(target)


async def test_a_sqlite_database_from_before_checksums_is_adopted(tmp_path):
    """Such a database knows only PRAGMA user_version: its applied migrations are
    recorded with the shipped checksums, and none is applied again."""
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    await db.execute("INSERT INTO chats (chat_id, created_at, updated_at) VALUES (7, 'x', 'x')")
    await db.execute("DELETE FROM schema_migrations")
    await db.close()
    db = await Database.open(path)
    try:
        assert len(await db.applied_migrations()) == len(migrations("sqlite"))
        assert await db.fetch_value("SELECT count(*) FROM chats") == 1
    finally:
        await db.close()


async def test_a_failed_transaction_rolls_back_whole(db):
    with pytest.raises(STORAGE_ERRORS):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO feeds (url, name, created_at) VALUES ('https://a.example/', 'a', 'x')"
            )
            await conn.execute(
                "INSERT INTO feeds (url, name, created_at) VALUES ('https://a.example/', 'b', 'x')"
            )
    assert await db.fetch_all("SELECT * FROM feeds") == []
    async with db.transaction() as conn:  # the connection is usable again
        await conn.execute(
            "INSERT INTO feeds (url, name, created_at) VALUES ('https://a.example/', 'a', 'x')"
        )
    assert await db.fetch_value("SELECT count(*) FROM feeds") == 1


async def test_feed_names_are_unique_without_regard_to_case(db):
    await db.execute(
        "INSERT INTO feeds (url, name, created_at) VALUES ('https://a.example/', 'Niann', 'x')"
    )
    with pytest.raises(STORAGE_ERRORS):
        await db.execute(
            "INSERT INTO feeds (url, name, created_at) VALUES ('https://b.example/', 'NIANN', 'x')"
        )


async def test_telegram_ids_beyond_32_bits_are_stored_whole(db):
    channel = -1001234567890
    await db.execute(
        "INSERT INTO chats (chat_id, kind, created_at, updated_at) VALUES (?, 'channel', 'x', 'x')",
        (channel,),
    )
    assert await db.fetch_value("SELECT chat_id FROM chats") == channel


async def test_migrate_db_copies_every_table_the_migrations_create(db):
    """A new table must be added to storage/transfer.py, or `migrate-db` refuses it."""
    assert set(await db.tables()) == set(TABLES) | set(BOOKKEEPING)
