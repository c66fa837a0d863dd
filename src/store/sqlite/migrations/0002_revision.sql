-- Moves on with every change to a user's entries or profile; serialized
-- `GET /mood` bodies are cached under it.
ALTER TABLE users ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

-- User ids come from a counter that only grows, like entry ids: without
-- it SQLite hands the newest account's id out again after it is deleted,
-- and anything keyed by the id (a cached body) could outlive its account.
CREATE TABLE user_id_sequence (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_id   INTEGER NOT NULL
) STRICT;
INSERT INTO user_id_sequence (singleton, last_id) SELECT 1, coalesce(max(id), 0) FROM users;
