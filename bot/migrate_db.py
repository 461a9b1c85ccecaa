"""`python -m bot migrate-db --to URL`: the operator's side of storage/transfer.py."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TextIO

import asyncpg

from bot.config import ConfigError
from storage.database import STORAGE_ERRORS, Database
from storage.lock import AlreadyRunning, exclusive
from storage.postgres import PostgresDatabase, redact
from storage.schema import MigrationError
from storage.sqlite import SqliteDatabase
from storage.transfer import TransferError, copy_database

EXIT_REFUSED = 1


async def migrate_database(source_path: Path, url: str, out: TextIO) -> int:
    """Copy, print the counts per table; 0 when every count matches. The caller has
    checked that `source_path` is a file (opening would create an empty database)."""
    shown = redact(url)
    with contextlib.ExitStack() as locks:
        try:
            locks.enter_context(exclusive(source_path))
        except AlreadyRunning:
            raise ConfigError(
                "DATABASE_PATH", "the bot is running on this database; stop it first"
            ) from None
        try:
            source = await Database.open(source_path)
        except (OSError, MigrationError, *STORAGE_ERRORS) as error:
            problem = f"cannot open {str(source_path)!r}: {error}"
            raise ConfigError("DATABASE_PATH", problem) from None
        try:
            try:
                target = await Database.open(url)
            except (OSError, MigrationError, asyncpg.PostgresError) as error:
                raise ConfigError("--to", f"cannot open {shown}: {error}") from None
            assert isinstance(source, SqliteDatabase) and isinstance(target, PostgresDatabase)
            try:
                print(f"copying {source_path} -> {shown}", file=out)
                try:
                    counts = await copy_database(source, target)
                except TransferError as error:
                    print(f"refused: {error}", file=out)
                    return EXIT_REFUSED
            finally:
                await target.close()
        finally:
            await source.close()
    width = max(len(c.table) for c in counts)
    print(f"{'table':<{width}}  {'sqlite':>9}  {'postgresql':>10}", file=out)
    for count in counts:
        mark = "" if count.matches else "  <- differs"
        print(f"{count.table:<{width}}  {count.source:>9}  {count.target:>10}{mark}", file=out)
    rows = sum(c.target for c in counts)
    if all(c.matches for c in counts):
        print(
            f"done: {len(counts)} tables, {rows} rows, every count matches. "
            "Set DATABASE_URL to this URL and start the bot.",
            file=out,
        )
        return 0
    print("the counts differ: do not switch to this database", file=out)
    return EXIT_REFUSED
