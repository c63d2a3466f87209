-- Remote commands an admin queued for a host: signed by the hub's key when queued, sent once
-- on the host's next envelope, finished when the agent posts the result (stored once per
-- request id). Rows go with their host.
CREATE TABLE commands (
    id           INTEGER PRIMARY KEY,
    request_id   TEXT    NOT NULL UNIQUE,
    host_id      INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    command      TEXT    NOT NULL,
    params       TEXT    NOT NULL,          -- JSON array of strings
    requested_by TEXT    NOT NULL,          -- the admin's name (API client or dashboard user)
    requested_at INTEGER NOT NULL,          -- unix ms
    expires_at   INTEGER NOT NULL,          -- unix ms, signed: the agent refuses it after
    signature    TEXT    NOT NULL,          -- base64 Ed25519 over the signed message
    state        TEXT    NOT NULL,          -- queued | sent | done | expired
    sent_at      INTEGER,
    finished_at  INTEGER,
    result       TEXT                       -- the agent's result, JSON
);
CREATE INDEX commands_host_requested ON commands (host_id, requested_at);
CREATE INDEX commands_queued ON commands (host_id) WHERE state = 'queued';
