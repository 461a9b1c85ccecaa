-- Poller state per feed (SPEC 6.1, 6.3, 6.5).
ALTER TABLE feeds ADD COLUMN etag TEXT;
ALTER TABLE feeds ADD COLUMN last_modified TEXT;
ALTER TABLE feeds ADD COLUMN body_hash TEXT;            -- an unchanged 200 body costs no parsing
ALTER TABLE feeds ADD COLUMN last_polled_at TEXT;
ALTER TABLE feeds ADD COLUMN last_success_at TEXT;
ALTER TABLE feeds ADD COLUMN last_error TEXT;
ALTER TABLE feeds ADD COLUMN last_error_at TEXT;
ALTER TABLE feeds ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feeds ADD COLUMN next_poll_at TEXT;         -- NULL: due at the next poll
ALTER TABLE feeds ADD COLUMN primed INTEGER NOT NULL DEFAULT 0;  -- had its first good poll

-- One row per story, however many feeds carried it (SPEC 6.4).
CREATE TABLE articles (
    article_id      INTEGER PRIMARY KEY,
    feed_id         INTEGER REFERENCES feeds (feed_id) ON DELETE SET NULL,
    link            TEXT,
    canonical_link  TEXT,
    title           TEXT    NOT NULL,
    title_key       TEXT    NOT NULL,
    summary         TEXT    NOT NULL,
    published_at    TEXT,
    stored_at       TEXT    NOT NULL,
    topics          TEXT    NOT NULL DEFAULT '',        -- space-separated topic ids
    pushed          INTEGER NOT NULL DEFAULT 0          -- 1: fanned out to readers
);
CREATE INDEX articles_by_link ON articles (canonical_link) WHERE canonical_link IS NOT NULL;
CREATE INDEX articles_by_title ON articles (title_key, stored_at);

-- Which feed item (guid, else link, else hash) is which article: seen items are skipped.
CREATE TABLE feed_items (
    feed_id     INTEGER NOT NULL REFERENCES feeds (feed_id) ON DELETE CASCADE,
    item_key    TEXT    NOT NULL,
    article_id  INTEGER NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
    PRIMARY KEY (feed_id, item_key)
) WITHOUT ROWID;
CREATE INDEX feed_items_by_article ON feed_items (article_id);

CREATE TABLE article_topics (
    topic_id    TEXT    NOT NULL,
    article_id  INTEGER NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
    PRIMARY KEY (topic_id, article_id)
) WITHOUT ROWID;

-- One row per (chat, article), written in the transaction that stores the article
-- (SPEC 7.1). The sender drains it; `sending` rows found at start-up were in flight.
CREATE TABLE outbox (
    outbox_id   INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE ON UPDATE CASCADE,
    article_id  INTEGER NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
    priority    INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dropped')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  TEXT,
    last_error  TEXT,
    message_id  INTEGER,
    created_at  TEXT    NOT NULL,
    sent_at     TEXT,
    UNIQUE (chat_id, article_id)
);
CREATE INDEX outbox_queue ON outbox (priority DESC, outbox_id) WHERE status IN ('pending', 'sending');
