-- Editors' breaking items (SPEC 8.2, 8.2a). A draft waits for its editor's Send or Cancel;
-- on Send it becomes an article without a feed (articles.feed_id NULL) whose outbox rows
-- carry a higher priority, and `reported_at` is set once the editor got the fan-out report.
CREATE TABLE breaking (
    breaking_id  INTEGER PRIMARY KEY,
    editor_id    INTEGER NOT NULL,                  -- the editor's user (= private chat) id
    text         TEXT    NOT NULL,                  -- as typed, hashtags removed
    topics       TEXT    NOT NULL DEFAULT '',       -- space-separated topic ids; '' = everyone
    status       TEXT    NOT NULL DEFAULT 'draft'
                         CHECK (status IN ('draft', 'sent', 'cancelled', 'expired')),
    article_id   INTEGER REFERENCES articles (article_id) ON DELETE SET NULL,
    created_at   TEXT    NOT NULL,
    sent_at      TEXT,
    reported_at  TEXT,                              -- the fan-out report was queued
    corrected_at TEXT,
    recalled_at  TEXT
);
CREATE INDEX breaking_unreported ON breaking (breaking_id) WHERE status = 'sent' AND reported_at IS NULL;
-- A recalled item's article stays for the counts but is listed nowhere (/latest).
ALTER TABLE articles ADD COLUMN recalled INTEGER NOT NULL DEFAULT 0;
