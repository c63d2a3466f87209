-- The agents' remote-command audit entries, forwarded in their reports (any origin: MQTT or
-- the hub; run or refused). Stored once per (host, instance, seq, position in the report), so
-- a retried or backfilled report adds nothing. Bounded per host: the hub drops entries past
-- their age and keeps at most the newest few thousand (see audit.rs). Rows go with their host.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    host_id     INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    instance_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    at          INTEGER NOT NULL,          -- when the agent answered, unix ms
    origin      TEXT    NOT NULL,          -- mqtt | hub
    request_id  TEXT    NOT NULL,
    command     TEXT    NOT NULL,
    params      TEXT    NOT NULL,          -- JSON array of strings
    outcome     TEXT    NOT NULL,          -- ran | refused
    ok          INTEGER NOT NULL,
    exit_code   INTEGER,
    reason      TEXT,
    duration_ms INTEGER,
    UNIQUE (host_id, instance_id, seq, position)
);
CREATE INDEX audit_host_at ON audit (host_id, at);
