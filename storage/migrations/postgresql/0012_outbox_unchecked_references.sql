-- The outbox's two foreign keys cost PostgreSQL more than the rest of a fan-out: each row
-- fired two triggers, and the one on chats locked the reader's row (FOR KEY SHARE) and
-- dirtied it. One article to 100,000 readers took 3.2-4.4 s with them and 0.9-1.3 s
-- without (target 2 s).
--
-- A reader's row needs no check: private chats (positive ids in Telegram) are never
-- renamed or deleted, and their rows are written from a join with chats. Groups and
-- channels (negative ids) keep the check and its lock, written out below: a group's move
-- to a supergroup (OutboxRepository.move_chat) renames or deletes its chat, and must wait
-- for a transaction that is queueing a row for it, as the foreign key made it wait. The
-- move then carries the row over by its own UPDATE; a row queued after the move fails,
-- and the poll that queued it is retried, as before.
--
-- Articles are never deleted (a recall only marks them). A job that deletes them must
-- delete their outbox rows itself on PostgreSQL.
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_chat_id_fkey;
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_article_id_fkey;

CREATE FUNCTION outbox_target_chat_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM chats WHERE chat_id = NEW.chat_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'outbox row for chat %, which is not in chats', NEW.chat_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_target_chat_exists AFTER INSERT OR UPDATE OF chat_id ON outbox
    FOR EACH ROW WHEN (NEW.chat_id < 0) EXECUTE FUNCTION outbox_target_chat_exists();
