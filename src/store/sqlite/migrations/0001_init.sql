-- Times are unix microseconds (UTC); dates are 'YYYY-MM-DD' text.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    timezone      TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   BLOB    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);

-- Clustered by user and time, so one user's entries sit together on disk and
-- a newest-first page is a single range scan.
CREATE TABLE entries (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recorded_at INTEGER NOT NULL,
    id          INTEGER NOT NULL,
    rating      INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 10),
    note        TEXT,
    tags        TEXT    NOT NULL, -- JSON array of strings
    timezone    TEXT    NOT NULL,
    local_date  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, recorded_at, id)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX entries_id ON entries (id);

-- Entry ids come from this counter, which only grows: an id is never reused,
-- even after the newest entry is deleted, so an old link or an idempotent
-- replay's Location never names somebody else's entry.
CREATE TABLE entry_id_sequence (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_id   INTEGER NOT NULL
) STRICT;
INSERT INTO entry_id_sequence (singleton, last_id) VALUES (1, 0);

-- How many entries each user has on each local date: the counted days that
-- streaks are computed from, kept in step with `entries` in every write.
CREATE TABLE entry_days (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    local_date TEXT    NOT NULL,
    entries    INTEGER NOT NULL CHECK (entries > 0),
    PRIMARY KEY (user_id, local_date)
) STRICT, WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key         TEXT    NOT NULL,
    fingerprint BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    response    TEXT    NOT NULL, -- JSON of the first result
    PRIMARY KEY (user_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Failed logins and sign-ups, counted for throttling.
CREATE TABLE rate_events (
    kind TEXT    NOT NULL,
    key  TEXT    NOT NULL,
    at   INTEGER NOT NULL
) STRICT;
CREATE INDEX rate_events_key ON rate_events (kind, key, at);
CREATE INDEX rate_events_at ON rate_events (at);
