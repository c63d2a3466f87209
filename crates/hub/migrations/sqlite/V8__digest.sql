-- The weekly digests sent, one row per week (its send date in the configured zone), so a
-- restarted hub neither sends a week twice nor skips one.
CREATE TABLE digests (
    week     TEXT    PRIMARY KEY,   -- e.g. 2026-06-01
    sent_at  INTEGER NOT NULL       -- unix ms
);
