-- Outbox rows may carry a message of their own instead of an article: a digest, a notice.
-- `text` is pre-rendered HTML; `silent` sends without sound (quiet hours, SPEC 4.12).
-- SQLite cannot relax NOT NULL in place, so the table is rebuilt.
CREATE TABLE outbox_new (
    outbox_id   INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE ON UPDATE CASCADE,
    article_id  INTEGER REFERENCES articles (article_id) ON DELETE CASCADE,
    text        TEXT,
    silent      INTEGER NOT NULL DEFAULT 0 CHECK (silent IN (0, 1)),
    priority    INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dropped')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  TEXT,
    last_error  TEXT,
    message_id  INTEGER,
    created_at  TEXT    NOT NULL,
    sent_at     TEXT,
    CHECK ((article_id IS NULL) != (text IS NULL)),
    UNIQUE (chat_id, article_id)
);
INSERT INTO outbox_new (outbox_id, chat_id, article_id, priority, status, attempts, not_before,
                        last_error, message_id, created_at, sent_at)
SELECT outbox_id, chat_id, article_id, priority, status, attempts, not_before,
       last_error, message_id, created_at, sent_at
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_queue ON outbox (priority DESC, outbox_id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_by_article ON outbox (article_id);
