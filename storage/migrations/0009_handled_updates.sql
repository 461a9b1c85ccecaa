-- Webhook updates already handled (SPEC 3, 8c): a redelivery by Telegram is recognised
-- by whichever copy of the bot it reaches, and after a restart. Only recent ids are kept.
CREATE TABLE handled_updates (
    update_id   INTEGER PRIMARY KEY,
    handled_at  TEXT    NOT NULL
);
