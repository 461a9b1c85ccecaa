-- PostgreSQL form of ../0006_reader_schedule.sql.
ALTER TABLE chats ADD COLUMN timezone TEXT;
ALTER TABLE chats ADD COLUMN digest_time TEXT;
ALTER TABLE chats ADD COLUMN quiet_start TEXT;
ALTER TABLE chats ADD COLUMN quiet_end TEXT;
ALTER TABLE chats ADD COLUMN last_digest_on TEXT;
CREATE INDEX chats_digest ON chats (chat_id) WHERE digest_time IS NOT NULL;

CREATE TABLE digest_items (
    chat_id     BIGINT  NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE ON UPDATE CASCADE,
    article_id  BIGINT  NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
    PRIMARY KEY (chat_id, article_id)
);
