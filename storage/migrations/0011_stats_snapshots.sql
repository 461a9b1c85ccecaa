-- Daily snapshots for editors' /stats chart (SPEC 8.5): one row per local day of TIMEZONE,
-- its figures as JSON (storage/snapshots.py), kept 400 days.
CREATE TABLE stats_snapshots (
    day         TEXT    PRIMARY KEY,               -- the local date described, YYYY-MM-DD
    taken_at    TEXT    NOT NULL,                  -- UTC
    data        TEXT    NOT NULL
);
-- When a row ended failed or dropped: a day's failures are counted from it.
ALTER TABLE outbox ADD COLUMN failed_at TEXT;
