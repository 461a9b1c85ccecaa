"""Numbered migrations per backend, applied once, in order, each recorded with a checksum.

SQLite's are `storage/migrations/NNNN_name.sql`; PostgreSQL's are the same versions,
written for it, in `storage/migrations/postgresql/`. A version means the same tables and
columns on both, so `migrate-db` can copy between them (constraints may differ where one
backend pays for a check the other does not: see postgresql/0012). `schema_migrations`
holds what was applied; a shipped migration whose text changed after it was applied is
refused at start-up (a database may be missing what the edited file now says, and nobody
would know).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

# Portable DDL: the bookkeeping table is the same on both backends.
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    checksum    TEXT    NOT NULL,   -- sha256 of the file as applied
    applied_at  TEXT    NOT NULL    -- UTC, ISO 8601
)
"""

_PACKAGES = {"sqlite": "storage.migrations", "postgresql": "storage.migrations.postgresql"}


class MigrationError(RuntimeError):
    """The database's schema does not match what this bot ships."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def migrations(dialect: str = "sqlite") -> list[Migration]:
    """The shipped migrations of a backend, in order, numbered without gaps."""
    found = []
    for entry in resources.files(_PACKAGES[dialect]).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(
                Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8"))
            )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 0001, 0002, ... without gaps: {versions}")
    return found


def pending(applied: list[tuple[int, str, str]], shipped: list[Migration]) -> list[Migration]:
    """The shipped migrations still to apply, after checking the applied ones against them.

    Raises MigrationError for an applied migration that is not shipped (a newer bot's
    database) or whose file changed since."""
    by_version = {m.version: m for m in shipped}
    for version, name, checksum in applied:
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {name}, which this version of the bot does not"
                " ship: it was written by a newer version"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {migration.name} was changed after it was applied to this database"
                f" (checksum {checksum[:12]}, now {migration.checksum[:12]}); restore the"
                " shipped file and put the change in a new migration"
            )
    done = {version for version, _, _ in applied}
    return [m for m in shipped if m.version not in done]
