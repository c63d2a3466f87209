-- People who log in to the dashboard, and their sessions.
CREATE TABLE users (
    name           TEXT    PRIMARY KEY,
    password_hash  TEXT    NOT NULL,            -- argon2id, PHC string
    role           TEXT    NOT NULL,            -- 'admin' | 'viewer'
    created_at     INTEGER NOT NULL             -- unix ms
);

-- A session cookie's token is random (256 bits) and kept only as its SHA-256.
CREATE TABLE sessions (
    token_hash  BLOB    PRIMARY KEY,
    user_name   TEXT    NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
