-- Readers, channels and groups the bot talks to. Admins come from ADMIN_IDS, not from here.
CREATE TABLE chats (
    chat_id     INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL DEFAULT 'private'
                        CHECK (kind IN ('private', 'group', 'supergroup', 'channel')),
    language    TEXT    NOT NULL DEFAULT 'en' CHECK (language IN ('ru', 'en')),
    role        TEXT    NOT NULL DEFAULT 'reader' CHECK (role IN ('reader', 'editor')),
    paused      INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

-- Feeds: seeded from FEEDS_FILE (upsert by URL); the poller's state lives here too.
CREATE TABLE feeds (
    feed_id     INTEGER PRIMARY KEY,
    url         TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    encoding    TEXT,
    created_at  TEXT    NOT NULL
);
CREATE UNIQUE INDEX feeds_by_name ON feeds (name COLLATE NOCASE);

-- One row per (chat, kind, key). `value` is what the reader typed or chose (shown back to
-- them); `key` is the normalised form used for dedup and matching.
CREATE TABLE subscriptions (
    subscription_id INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE ON UPDATE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('topic', 'keyword', 'source')),
    value       TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    UNIQUE (chat_id, kind, key)
);
CREATE INDEX subscriptions_by_key ON subscriptions (kind, key);
