-- PostgreSQL form of ../0011_stats_snapshots.sql.
CREATE TABLE stats_snapshots (
    day         TEXT    PRIMARY KEY,
    taken_at    TEXT    NOT NULL,
    data        TEXT    NOT NULL
);
ALTER TABLE outbox ADD COLUMN failed_at TEXT;
