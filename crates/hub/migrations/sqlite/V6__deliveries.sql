-- The notification delivery log: one row per message per channel, for admins to see what
-- was sent, what failed and why. Bounded: the hub drops rows past the configured age and
-- keeps at most 10,000 (see notify::log). Error texts are scrubbed of secrets before they
-- are written.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,          -- when the outcome was known, unix ms
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,           -- alerts | digest | test
    title TEXT NOT NULL,
    alerts TEXT NOT NULL,         -- JSON array of {fingerprint, rule, host, state, severity}
    status TEXT NOT NULL,         -- delivered | failed
    attempts INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX deliveries_at ON deliveries (at);
CREATE INDEX deliveries_channel_at ON deliveries (channel, at);
