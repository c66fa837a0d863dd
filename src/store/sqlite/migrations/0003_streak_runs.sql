-- Each user's runs of consecutive counted days, kept in step with
-- `entry_days` by every write, so that a write reads the two or three runs
-- around its day instead of every day the user ever logged.
CREATE TABLE streak_runs (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_day  TEXT    NOT NULL,
    first_day TEXT    NOT NULL CHECK (first_day <= last_day),
    PRIMARY KEY (user_id, last_day)
) STRICT, WITHOUT ROWID;

-- The runs of the days counted so far: consecutive days share
-- (day number - rank).
INSERT INTO streak_runs (user_id, last_day, first_day)
SELECT user_id, max(local_date), min(local_date)
FROM (
    SELECT user_id, local_date,
           julianday(local_date)
               - row_number() OVER (PARTITION BY user_id ORDER BY local_date) AS island
    FROM entry_days
)
GROUP BY user_id, island;
