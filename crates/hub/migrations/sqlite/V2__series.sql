-- Time series: per-host series, compressed chunks per resolution, and the reports still to compact.
CREATE TABLE series (
    id       INTEGER PRIMARY KEY,
    host_id  INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    key      TEXT    NOT NULL,           -- canonical `name{label="value",...}`
    name     TEXT    NOT NULL,
    UNIQUE (host_id, key)
);
CREATE INDEX series_by_name ON series (host_id, name);

CREATE TABLE chunks (
    id          INTEGER PRIMARY KEY,
    series_id   INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    resolution  INTEGER NOT NULL,        -- bucket width in seconds; 0 = raw samples
    first_ms    INTEGER NOT NULL,
    last_ms     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    data        BLOB    NOT NULL
);
CREATE INDEX chunks_by_series ON chunks (series_id, resolution, last_ms);
CREATE INDEX chunks_by_age ON chunks (resolution, last_ms);

-- Reports stored but not yet turned into chunks; the compactor deletes a row in the same
-- transaction that writes its chunks, so each report is compacted exactly once.
CREATE TABLE pending (
    host_id      INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    instance_id  TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    collected_at INTEGER NOT NULL,
    PRIMARY KEY (host_id, instance_id, seq)
) WITHOUT ROWID;
CREATE INDEX pending_by_time ON pending (collected_at, host_id);

-- Reports already stored before this migration are history to compact too.
INSERT INTO pending (host_id, instance_id, seq, collected_at)
    SELECT host_id, instance_id, seq, collected_at FROM reports;

-- The durable report log is trimmed by age once compacted.
CREATE INDEX reports_by_received ON reports (received_at);
