-- PostgreSQL form of ../0004_outbox_messages.sql: PostgreSQL relaxes NOT NULL in place.
ALTER TABLE outbox ALTER COLUMN article_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN text TEXT;
ALTER TABLE outbox ADD COLUMN silent INTEGER NOT NULL DEFAULT 0 CHECK (silent IN (0, 1));
ALTER TABLE outbox ADD CONSTRAINT outbox_article_or_text
    CHECK ((article_id IS NULL) <> (text IS NULL));
CREATE INDEX outbox_by_article ON outbox (article_id);
