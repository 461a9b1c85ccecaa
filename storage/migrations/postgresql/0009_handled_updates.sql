-- PostgreSQL form of ../0009_handled_updates.sql.
CREATE TABLE handled_updates (
    update_id   BIGINT  PRIMARY KEY,
    handled_at  TEXT    NOT NULL
);
