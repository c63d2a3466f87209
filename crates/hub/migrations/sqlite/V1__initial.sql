-- Hosts, their tokens (hashed), the durable report log, the latest state, events, job runs.
CREATE TABLE hosts (
    id                 INTEGER PRIMARY KEY,
    name               TEXT    NOT NULL UNIQUE,
    token_id           TEXT    NOT NULL UNIQUE,
    token_hash         BLOB    NOT NULL,
    created_at         INTEGER NOT NULL,            -- unix ms
    interval_seconds   INTEGER,                     -- per-host override of [interval] default
    status             TEXT    NOT NULL DEFAULT 'new',
    status_since       INTEGER NOT NULL,
    last_seen          INTEGER,                     -- when the hub last received a report, unix ms
    expected_interval  INTEGER                      -- the interval the host was last told to use
);

-- Every report, written once as it arrives (zstd-compressed JSON): the durable log.
CREATE TABLE reports (
    host_id      INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    instance_id  TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    collected_at INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    body         BLOB    NOT NULL,
    PRIMARY KEY (host_id, instance_id, seq)
) WITHOUT ROWID;
CREATE INDEX reports_by_time ON reports (host_id, collected_at);

-- The latest known state of each source per host (sections merged across tiers).
CREATE TABLE latest (
    host_id      INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    collected_at INTEGER NOT NULL,
    body         BLOB    NOT NULL
);

CREATE TABLE events (
    id       INTEGER PRIMARY KEY,
    host_id  INTEGER REFERENCES hosts(id) ON DELETE CASCADE,
    at       INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    message  TEXT    NOT NULL
);
CREATE INDEX events_by_time ON events (at);
CREATE INDEX events_by_host ON events (host_id, at);

CREATE TABLE job_runs (
    host_id          INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    run_id           TEXT    NOT NULL,
    job              TEXT    NOT NULL,
    started_at       INTEGER NOT NULL,
    duration_seconds REAL    NOT NULL,
    succeeded        INTEGER NOT NULL,
    body             BLOB    NOT NULL,
    PRIMARY KEY (host_id, run_id)
) WITHOUT ROWID;
CREATE INDEX job_runs_by_job ON job_runs (host_id, job, started_at);

-- Tokens for API clients (scripts, the dashboard's machine users): admin or viewer.
CREATE TABLE api_tokens (
    name        TEXT    PRIMARY KEY,
    token_id    TEXT    NOT NULL UNIQUE,
    token_hash  BLOB    NOT NULL,
    role        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
