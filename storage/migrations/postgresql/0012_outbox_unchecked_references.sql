-- The outbox's two foreign keys cost PostgreSQL more than the rest of a fan-out: each row
-- fires two triggers, and the one on chats locks the reader's row (FOR KEY SHARE) and
-- dirties it. Measured on one article to 100,000 readers: 3.2-4.4 s with them, 0.9-1.3 s
-- without (target 2 s). What they guarded holds without them:
-- - rows are written from a join with chats (fan-out, channels, digests, breaking items) or
--   for the chat of the update being handled, and for an article of the same transaction;
-- - articles are never deleted;
-- - chats are deleted only by a group's move to a supergroup (OutboxRepository.move_chat),
--   which moves their rows first, and renamed only there, where the rows follow by an
--   explicit UPDATE instead of ON UPDATE CASCADE.
-- A row whose chat is gone is sent anyway and answered by Telegram, as any chat that left.
ALTER TABLE outbox DROP CONSTRAINT outbox_chat_id_fkey;
ALTER TABLE outbox DROP CONSTRAINT outbox_article_id_fkey;
