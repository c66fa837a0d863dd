-- Entry ids were `max(id) + 1`, so deleting the newest entry freed its id for
-- the next one (anyone's): an old link or an idempotent replay's Location
-- could then name a different entry. A counter that only grows fixes that.
CREATE TABLE entry_id_sequence (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_id   INTEGER NOT NULL
) STRICT;
INSERT INTO entry_id_sequence (singleton, last_id)
SELECT 1, coalesce(max(id), 0) FROM entries;
