-- No schema names anywhere: every object goes into the connection's
-- search_path, so one database can hold several moodlogs (and each test its
-- own schema).

CREATE TABLE users (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text        NOT NULL UNIQUE,
    password_hash text        NOT NULL,
    timezone      text        NOT NULL,
    created_at    timestamptz NOT NULL
);

CREATE TABLE sessions (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
-- For purge, which deletes sessions past either limit. `last_used_at` is
-- touched at most once a minute per session, so its index costs little.
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_used ON sessions (last_used_at);

-- The identity is a sequence, which only grows: an id is never reused, even
-- after the newest entry is deleted, so an old link or an idempotent replay's
-- Location never names somebody else's entry.
CREATE TABLE entries (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recorded_at timestamptz NOT NULL,
    rating      smallint    NOT NULL CHECK (rating BETWEEN 1 AND 10),
    note        text,
    -- An array keeps the tags' order, maps to Vec<String> with no JSON step,
    -- and can take a GIN index should tags ever be searched.
    tags        text[]      NOT NULL CHECK (array_position(tags, NULL) IS NULL),
    timezone    text        NOT NULL,
    local_date  date        NOT NULL,
    created_at  timestamptz NOT NULL
);
-- One user's newest-first page (and the chart's date range) is a single
-- range scan of this index.
CREATE INDEX entries_page ON entries (user_id, recorded_at DESC, id DESC);

-- How many entries each user has on each local date: the counted days that
-- streaks are computed from, kept in step with `entries` in every write.
CREATE TABLE entry_days (
    user_id    bigint  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    local_date date    NOT NULL,
    entries    integer NOT NULL CHECK (entries > 0),
    PRIMARY KEY (user_id, local_date)
);

CREATE TABLE idempotency_keys (
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key         text        NOT NULL,
    fingerprint bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    -- The first result. NULL only inside the transaction that claimed the
    -- key: the row is inserted first (its unique index makes a concurrent
    -- retry wait) and completed before that transaction commits.
    response    jsonb,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Failed logins and sign-ups, counted for throttling.
CREATE TABLE rate_events (
    kind text        NOT NULL,
    key  text        NOT NULL,
    at   timestamptz NOT NULL
);
CREATE INDEX rate_events_key ON rate_events (kind, key, at);
CREATE INDEX rate_events_at ON rate_events (at);
