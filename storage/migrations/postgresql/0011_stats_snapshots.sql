-- PostgreSQL form of ../0011_stats_snapshots.sql.
CREATE TABLE stats_snapshots (
    day         TEXT    PRIMARY KEY,
    taken_at    TEXT    NOT NULL,
    data        TEXT    NOT NULL
);
ALTER TABLE outbox ADD COLUMN failed_at TEXT;
ALTER TABLE outbox ADD COLUMN fail_reason TEXT;
CREATE INDEX outbox_failed_at ON outbox (failed_at) WHERE failed_at IS NOT NULL;
