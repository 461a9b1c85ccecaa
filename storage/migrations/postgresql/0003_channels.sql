-- PostgreSQL form of ../0003_channels.sql.
ALTER TABLE chats ADD COLUMN title TEXT;
ALTER TABLE chats ADD COLUMN username TEXT;
ALTER TABLE chats ADD COLUMN thread_id BIGINT;
ALTER TABLE chats ADD COLUMN target INTEGER NOT NULL DEFAULT 0 CHECK (target IN (0, 1));
CREATE INDEX chats_targets ON chats (chat_id) WHERE target = 1;
