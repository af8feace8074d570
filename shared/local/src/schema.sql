-- Secure-2FA embedded schema. Sealed values are BLOBs (AES-256-GCM under the
-- owning entity's data key); *_index / *_mac / user_ref columns hold keyed
-- HMACs. No code, address, end-user id or secret is stored in clear.

CREATE TABLE IF NOT EXISTS clients (
    id              TEXT PRIMARY KEY,
    email           BLOB NOT NULL,
    email_index     TEXT NOT NULL UNIQUE,
    password_hash   TEXT,
    totp_secret     BLOB,
    totp_last_step  INTEGER,
    totp_pending    BLOB,
    backup_codes    TEXT NOT NULL,
    is_admin        INTEGER NOT NULL,
    session_epoch   INTEGER NOT NULL DEFAULT 0,
    disabled        INTEGER NOT NULL DEFAULT 0,
    confirmed_at    INTEGER,
    created_at      INTEGER NOT NULL,
    data_key        BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS clients_single_admin ON clients(is_admin) WHERE is_admin = 1;

CREATE TABLE IF NOT EXISTS channels (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    method      TEXT NOT NULL,
    provider    TEXT NOT NULL,
    credentials BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    receipt_secret BLOB
);
CREATE INDEX IF NOT EXISTS channels_client ON channels(client_id, id);

CREATE TABLE IF NOT EXISTS templates (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    default_lang TEXT NOT NULL,
    format       TEXT NOT NULL,
    versions     TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS templates_client ON templates(client_id, id);

-- Channels and templates cannot be deleted while a project links them
-- (ON DELETE RESTRICT): the seed's check_linked_projects, enforced by SQLite.
CREATE TABLE IF NOT EXISTS projects (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    title          TEXT NOT NULL,
    public_key     TEXT NOT NULL UNIQUE,
    secret_key     BLOB NOT NULL,
    channel_id     TEXT NOT NULL REFERENCES channels(id) ON DELETE RESTRICT,
    channel_method TEXT NOT NULL,
    template_id    TEXT NOT NULL REFERENCES templates(id) ON DELETE RESTRICT,
    settings       TEXT NOT NULL,
    webhook_url    BLOB,
    webhook_secret BLOB,
    data_key       BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    fallback_channel_id TEXT REFERENCES channels(id) ON DELETE RESTRICT,
    fallback_after      INTEGER,
    previous_secret_key   BLOB,
    previous_secret_until INTEGER,
    revision              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS projects_client ON projects(client_id, id);

-- One row per end user: their current verification.
CREATE TABLE IF NOT EXISTS end_users (
    project_id           TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_ref             TEXT NOT NULL,
    user_id              BLOB NOT NULL,
    verification_id      TEXT NOT NULL,
    code_mac             TEXT NOT NULL,
    device_mac           TEXT,
    recipient            BLOB NOT NULL,
    lang                 TEXT,
    status               TEXT NOT NULL,
    attempts             INTEGER NOT NULL,
    max_attempts         INTEGER NOT NULL,
    sent_at              INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    delivery             TEXT NOT NULL,
    delivery_lease_until INTEGER,
    first_seen           INTEGER NOT NULL,
    provider_message_id  TEXT,
    receipt_status       TEXT,
    receipt_rank         INTEGER,
    receipt_reason       TEXT,
    receipt_at           INTEGER,
    fallback             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, user_ref)
);
CREATE INDEX IF NOT EXISTS end_users_recent ON end_users(project_id, sent_at DESC);

CREATE TABLE IF NOT EXISTS send_counters (
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    destination  TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (project_id, destination, window_start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS send_counters_expiry ON send_counters(expires_at);

-- Test messages a client sent from its channels, per window (older windows
-- are deleted by the next count).
CREATE TABLE IF NOT EXISTS test_sends (
    client_id    TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (client_id, window_start)
) WITHOUT ROWID;

-- Clients' API tokens: only their SHA-256 (found by it) and first characters.
CREATE TABLE IF NOT EXISTS api_tokens (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_tokens_client ON api_tokens(client_id, id);

-- Browser sessions, by the SHA-256 of their cookie value.
CREATE TABLE IF NOT EXISTS sessions (
    hash            TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    level           TEXT NOT NULL,
    epoch           INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);

-- Mailed single-use tokens (sign-up confirmation, password reset), by SHA-256.
CREATE TABLE IF NOT EXISTS account_tokens (
    hash       TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS account_tokens_expiry ON account_tokens(expires_at);

-- Sign-in and mail attempts per key (account, IP hash) and window.
CREATE TABLE IF NOT EXISTS attempt_counters (
    key          TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS attempt_counters_expiry ON attempt_counters(expires_at);

CREATE TABLE IF NOT EXISTS logs (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    project_id      TEXT,
    user_ref        TEXT,
    verification_id TEXT,
    level           TEXT NOT NULL,
    event           TEXT NOT NULL,
    message         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_client ON logs(client_id, id DESC);
CREATE INDEX IF NOT EXISTS logs_project ON logs(project_id, id DESC);
CREATE INDEX IF NOT EXISTS logs_end_user ON logs(project_id, user_ref, id DESC);

-- The durable job table behind the local queues.
CREATE TABLE IF NOT EXISTS jobs (
    -- No AUTOINCREMENT: it costs every insert a write to sqlite_sequence,
    -- and nothing needs ids that are never reused.
    id           INTEGER PRIMARY KEY,
    queue        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL,
    lease_until  INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(queue, available_at, id);

CREATE TABLE IF NOT EXISTS dead_jobs (
    id         INTEGER PRIMARY KEY,
    queue      TEXT NOT NULL,
    payload    TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    last_error TEXT,
    failed_at  INTEGER NOT NULL
);
