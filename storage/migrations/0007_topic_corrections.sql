-- Editors' corrections of an article's topics (SPEC 5.4, /retopic). Every correction is
-- kept, with the topics before and after it, so /why can show who changed what and
-- /export corrections can give the newsroom its own labelled data.
CREATE TABLE topic_corrections (
    correction_id  INTEGER PRIMARY KEY,
    article_id     INTEGER NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
    editor_id      INTEGER NOT NULL,
    added          TEXT NOT NULL,   -- topic ids, space-separated
    removed        TEXT NOT NULL,
    topics_before  TEXT NOT NULL,
    topics_after   TEXT NOT NULL,
    corrected_at   TEXT NOT NULL    -- UTC, ISO 8601
);
CREATE INDEX topic_corrections_article ON topic_corrections (article_id);
