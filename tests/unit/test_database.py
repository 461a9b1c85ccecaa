import sqlite3

import pytest

from storage.database import Database, migrations


async def test_fresh_database_is_migrated_and_in_wal_mode(tmp_path):
    db = await Database.open(tmp_path / "sub" / "bot.sqlite3")
    try:
        assert await db.schema_version() == len(migrations())
        row = await db.fetch_one("PRAGMA journal_mode")
        assert row[0] == "wal"
        row = await db.fetch_one("PRAGMA foreign_keys")
        assert row[0] == 1
    finally:
        await db.close()


async def test_reopening_applies_nothing_twice(tmp_path):
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    await db.close()
    db = await Database.open(path)
    try:
        assert await db.migrate() == len(migrations())
    finally:
        await db.close()


async def test_failed_transaction_rolls_back(tmp_path):
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO feeds (url, name, created_at)"
                    " VALUES ('https://a.example/', 'a', 'x')"
                )
                await conn.execute(
                    "INSERT INTO feeds (url, name, created_at)"
                    " VALUES ('https://a.example/', 'b', 'x')"
                )
        assert await db.fetch_all("SELECT * FROM feeds") == []
    finally:
        await db.close()
