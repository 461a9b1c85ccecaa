-- Channel and group targets (SPEC 8.4). A target is a non-private chat the bot auto-posts to;
-- its topic filter is its `subscriptions` rows of kind 'topic' (none: every topic).
ALTER TABLE chats ADD COLUMN title TEXT;
ALTER TABLE chats ADD COLUMN username TEXT;                 -- without the leading @
ALTER TABLE chats ADD COLUMN thread_id INTEGER;             -- forum topic: message_thread_id
ALTER TABLE chats ADD COLUMN target INTEGER NOT NULL DEFAULT 0 CHECK (target IN (0, 1));
CREATE INDEX chats_targets ON chats (chat_id) WHERE target = 1;
