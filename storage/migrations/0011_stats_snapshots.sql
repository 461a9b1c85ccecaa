-- Daily snapshots for editors' /stats chart (SPEC 8.5): one row per local day of TIMEZONE,
-- its figures as JSON (storage/snapshots.py), kept 400 days.
CREATE TABLE stats_snapshots (
    day         TEXT    PRIMARY KEY,               -- the local date described, YYYY-MM-DD
    taken_at    TEXT    NOT NULL,                  -- UTC
    data        TEXT    NOT NULL
);
-- When and why a row ended failed, or was dropped because its chat blocked the bot or
-- vanished: a day's undelivered messages are counted from these, by the sender's reason.
ALTER TABLE outbox ADD COLUMN failed_at TEXT;
ALTER TABLE outbox ADD COLUMN fail_reason TEXT;
CREATE INDEX outbox_failed_at ON outbox (failed_at) WHERE failed_at IS NOT NULL;
