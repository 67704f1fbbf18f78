-- Platform connections, their contexts, caption tasks with their progress, and posts.

-- An account on a Mastodon or Pixelfed instance. The access token is stored encrypted
-- (XChaCha20-Poly1305: 24-byte nonce followed by the ciphertext) and is never returned.
CREATE TABLE platform_connections (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    platform_type    TEXT    NOT NULL CHECK (platform_type IN ('mastodon', 'pixelfed')),
    instance_url     TEXT    NOT NULL,
    username         TEXT    NOT NULL,
    access_token_enc BLOB    NOT NULL,
    is_active        INTEGER NOT NULL DEFAULT 1,
    is_default       INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    UNIQUE (user_id, name)
);
CREATE UNIQUE INDEX platform_connections_one_default ON platform_connections (user_id) WHERE is_default = 1;

-- The platform context of a session ("session:<sha-256>") or of a bearer token ("token:<id>").
CREATE TABLE contexts (
    owner                  TEXT    PRIMARY KEY,
    user_id                INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform_connection_id INTEGER NOT NULL REFERENCES platform_connections (id) ON DELETE CASCADE,
    updated_at             TEXT    NOT NULL
);

CREATE TABLE tasks (
    id                     TEXT    PRIMARY KEY,
    user_id                INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform_connection_id INTEGER REFERENCES platform_connections (id) ON DELETE SET NULL,
    settings               TEXT    NOT NULL DEFAULT '{}',
    status                 TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    progress_percent       INTEGER NOT NULL DEFAULT 0,
    current_step           TEXT    NOT NULL DEFAULT '',
    details                TEXT    NOT NULL DEFAULT '{}',
    seq                    INTEGER NOT NULL DEFAULT 0,
    eta_seconds            REAL,
    error_message          TEXT,
    created_at             TEXT    NOT NULL,
    started_at             TEXT,
    updated_at             TEXT    NOT NULL,
    completed_at           TEXT
);
CREATE INDEX tasks_by_user ON tasks (user_id, created_at DESC, id DESC);

CREATE TABLE posts (
    id                     INTEGER PRIMARY KEY,
    user_id                INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform_connection_id INTEGER REFERENCES platform_connections (id) ON DELETE SET NULL,
    platform_type          TEXT,
    instance_url           TEXT,
    post_id                TEXT    NOT NULL,
    url                    TEXT,
    content                TEXT,
    image_count            INTEGER NOT NULL DEFAULT 0,
    created_at             TEXT    NOT NULL
);
CREATE INDEX posts_by_user ON posts (user_id, id DESC);
