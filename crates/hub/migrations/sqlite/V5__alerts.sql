-- The alert engine's state, so a restart neither re-notifies nor forgets what fires.
-- Instances: pending and firing alerts, and resolved ones flap damping still remembers; the
-- body is the engine's JSON of the instance (crates/hub/src/alert/state.rs).
CREATE TABLE alert_instances (
    fingerprint TEXT    PRIMARY KEY,
    host_id     INTEGER REFERENCES hosts(id) ON DELETE CASCADE,
    rule        TEXT    NOT NULL,
    state       TEXT    NOT NULL,          -- inactive | pending | firing
    body        TEXT    NOT NULL
);
CREATE INDEX alert_instances_by_host ON alert_instances (host_id);

-- Silences: matchers (JSON array of {label, op, value}) over a time range.
CREATE TABLE alert_silences (
    id          INTEGER PRIMARY KEY,
    matchers    TEXT    NOT NULL,
    starts_at   INTEGER NOT NULL,          -- unix ms
    ends_at     INTEGER NOT NULL,
    author      TEXT    NOT NULL,
    comment     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Acknowledgements of firing alerts; removed when the alert resolves.
CREATE TABLE alert_acks (
    fingerprint TEXT    PRIMARY KEY,
    author      TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    comment     TEXT    NOT NULL
);
