-- Digests, quiet hours, readers' time zones (SPEC 4.11, 4.12).
ALTER TABLE chats ADD COLUMN timezone TEXT;          -- IANA name; NULL: the TIMEZONE setting
ALTER TABLE chats ADD COLUMN digest_time TEXT;       -- 'HH:MM' local; NULL: instant pushes
ALTER TABLE chats ADD COLUMN quiet_start TEXT;       -- 'HH:MM' local; both NULL: no quiet hours
ALTER TABLE chats ADD COLUMN quiet_end TEXT;
ALTER TABLE chats ADD COLUMN last_digest_on TEXT;    -- local date (YYYY-MM-DD) of the last digest
CREATE INDEX chats_digest ON chats (chat_id) WHERE digest_time IS NOT NULL;

-- A digest reader's matched articles, kept until their digest is queued. Written by the
-- fan-out in the transaction that stores the article, instead of an outbox row. No index
-- on article_id: articles are never deleted (add one with a retention job), and every
-- index slows the fan-out and the digest job's delete.
CREATE TABLE digest_items (
    chat_id     INTEGER NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE ON UPDATE CASCADE,
    article_id  INTEGER NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
    PRIMARY KEY (chat_id, article_id)
) WITHOUT ROWID;
