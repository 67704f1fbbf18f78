-- Accounts, sessions and API tokens; the limits configuration with its history; the retry
-- policy and statistics.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL
);

-- A session is known by the SHA-256 of its cookie: the cookie itself is never stored.
CREATE TABLE sessions (
    id_hash     BLOB    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- API tokens are 256-bit random values stored as SHA-256 (argon2 is for passwords: checking a
-- token must stay cheap, and a 256-bit random value cannot be guessed anyway).
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    token_hash  BLOB    NOT NULL UNIQUE,
    created_at  TEXT    NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Every version of the limits document; the highest version is in force.
CREATE TABLE limits_versions (
    version     INTEGER PRIMARY KEY,
    document    TEXT    NOT NULL,
    changed_by  TEXT    NOT NULL,
    changed_at  TEXT    NOT NULL
);

CREATE TABLE retry_policy_versions (
    version     INTEGER PRIMARY KEY,
    document    TEXT    NOT NULL,
    changed_by  TEXT    NOT NULL,
    changed_at  TEXT    NOT NULL
);

-- Statistics per operation, kept as the JSON of flowgate_core::retry::OperationStats.
CREATE TABLE retry_stats (
    operation   TEXT    PRIMARY KEY,
    stats       TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
