-- Posts a news desk would publish (SPEC 6.0, 7.5, 8.4): pictures, source titles, previews.
-- The name shown to readers: FEEDS_FILE's `title`, else the feed's own <title> from its
-- last good fetch, else `name` (only until the first fetch).
ALTER TABLE feeds ADD COLUMN title TEXT;
ALTER TABLE feeds ADD COLUMN feed_title TEXT;
-- The item's picture: an absolute http(s) URL from the feed, or the Telegram file_id of
-- a photo an editor posted (`/post` as a photo's caption).
ALTER TABLE articles ADD COLUMN image TEXT;
ALTER TABLE breaking ADD COLUMN photo TEXT;
-- A reader's link previews (/previews on|off); a channel's photo posts (/channel set).
ALTER TABLE chats ADD COLUMN previews INTEGER NOT NULL DEFAULT 1 CHECK (previews IN (0, 1));
ALTER TABLE chats ADD COLUMN photos INTEGER NOT NULL DEFAULT 1 CHECK (photos IN (0, 1));
-- The delivered message is a photo whose caption is the post (/correct edits the caption).
ALTER TABLE outbox ADD COLUMN photo INTEGER NOT NULL DEFAULT 0 CHECK (photo IN (0, 1));
