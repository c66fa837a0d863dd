-- Moves on with every change to a user's entries or profile; serialized
-- `GET /mood` bodies are cached under it, in every instance.
ALTER TABLE users ADD COLUMN revision bigint NOT NULL DEFAULT 0;
