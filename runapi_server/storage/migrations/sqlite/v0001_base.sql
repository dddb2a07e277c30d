-- Step 1: the schema as it was before versioned migrations. IF NOT EXISTS, so a data dir
-- made then (user_version 0, tables present) is adopted as version 1 unchanged.
CREATE TABLE IF NOT EXISTS users (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,          -- user name == entity name
    email       TEXT,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash    TEXT PRIMARY KEY,               -- sha256 hex of the full key
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
    id          INTEGER PRIMARY KEY,            -- Project.internalId
    entity      TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (entity, name)
);
CREATE TABLE IF NOT EXISTS runs (
    id            INTEGER PRIMARY KEY,          -- creation order; ties in ordering
    project_id    INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,                -- the user-facing run id
    user_id       INTEGER NOT NULL REFERENCES users(id),
    display_name  TEXT,
    description   TEXT,
    notes         TEXT,
    state         TEXT NOT NULL DEFAULT 'running',
    group_name    TEXT,
    job_type      TEXT,
    commit_hash   TEXT,
    host          TEXT,
    program       TEXT,
    sweep_name    TEXT,
    tags          TEXT NOT NULL DEFAULT '[]',   -- JSON list of strings
    config        TEXT NOT NULL DEFAULT '{}',   -- wrapped config JSON {k: {value, desc}}
    summary       TEXT NOT NULL DEFAULT '{}',   -- flat summary JSON
    system_metrics TEXT NOT NULL DEFAULT '{}',  -- flat JSON: last system-metrics row
    created_at    TEXT NOT NULL,                -- ISO 8601 UTC, no zone suffix
    updated_at    TEXT NOT NULL,
    heartbeat_at  TEXT NOT NULL,
    exitcode      INTEGER,
    UNIQUE (project_id, name)
);
-- The runs listing's default order (created_at, then id) walks this index page by page.
CREATE INDEX IF NOT EXISTS runs_project_created ON runs (project_id, created_at);
-- Lines of the streamed files, stored by (run, file, line number) so a re-sent chunk
-- overwrites itself instead of duplicating. History and events rows also keep their
-- step and key set, for windowed scans and the all-keys sampling rule.
CREATE TABLE IF NOT EXISTS history (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    line_no     INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    keyset_id   INTEGER NOT NULL REFERENCES keysets(id),
    row         TEXT NOT NULL,                  -- the JSON row as sent
    PRIMARY KEY (run_id, line_no)
) WITHOUT ROWID;
-- keyset_id in the step index lets the all-keys rule filter a step window index-only.
CREATE INDEX IF NOT EXISTS history_step ON history (run_id, step, keyset_id);
CREATE TABLE IF NOT EXISTS events (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    line_no     INTEGER NOT NULL,
    row         TEXT NOT NULL,
    PRIMARY KEY (run_id, line_no)
) WITHOUT ROWID;
-- Distinct sets of keys seen in history rows (a run logs few distinct shapes).
CREATE TABLE IF NOT EXISTS keysets (
    id          INTEGER PRIMARY KEY,
    keys        TEXT NOT NULL UNIQUE            -- JSON sorted list of top-level keys
);
-- Per-run counters kept by the file stream, so counts, historyKeys and index sampling
-- never scan a run's rows (see runapi_server/history.py).
CREATE TABLE IF NOT EXISTS stream_stats (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stream      TEXT NOT NULL,                  -- 'history' or 'events'
    line_count  INTEGER NOT NULL,               -- lines stored
    ordered     INTEGER NOT NULL,               -- 1 while steps never decrease with line_no
    PRIMARY KEY (run_id, stream)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_keyset_counts (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    keyset_id   INTEGER NOT NULL REFERENCES keysets(id),
    row_count   INTEGER NOT NULL,
    PRIMARY KEY (run_id, keyset_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_key_types (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    type        TEXT NOT NULL,                  -- number, string, boolean, nil, map, list, _type
    row_count   INTEGER NOT NULL,
    PRIMARY KEY (run_id, key, type)
) WITHOUT ROWID;
-- Parquet exports of a run's history (runapi_server/parquet_export.py): each covers the
-- lines first_line..last_line; forgotten when a write makes them stale.
CREATE TABLE IF NOT EXISTS history_exports (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    first_line  INTEGER NOT NULL,
    last_line   INTEGER NOT NULL,
    row_count   INTEGER NOT NULL,
    path        TEXT NOT NULL,                  -- under the data dir
    PRIMARY KEY (run_id, first_line)
) WITHOUT ROWID;
-- Lines of any other streamed file (output.log ...), materialised as a run file.
CREATE TABLE IF NOT EXISTS stream_lines (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    file_name   TEXT NOT NULL,
    line_no     INTEGER NOT NULL,
    content     TEXT NOT NULL,
    PRIMARY KEY (run_id, file_name, line_no)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    size        INTEGER,                        -- NULL until uploaded
    md5         TEXT,                           -- base64 md5, as W&B reports it
    mimetype    TEXT,
    storage     TEXT,                           -- path under the data dir; NULL for streamed
    streamed    INTEGER NOT NULL DEFAULT 0,     -- 1: content is in stream_lines
    updated_at  TEXT NOT NULL,
    UNIQUE (run_id, name)
);
CREATE TABLE IF NOT EXISTS artifact_sequences (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    type_name   TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    next_version INTEGER NOT NULL DEFAULT 0,    -- never reused, even after deletions
    UNIQUE (project_id, name)
);
CREATE TABLE IF NOT EXISTS artifacts (
    id            INTEGER PRIMARY KEY,
    sequence_id   INTEGER NOT NULL REFERENCES artifact_sequences(id) ON DELETE CASCADE,
    version_index INTEGER NOT NULL,
    digest        TEXT NOT NULL,
    description   TEXT,
    metadata      TEXT,                         -- JSON object or NULL
    state         TEXT NOT NULL DEFAULT 'COMMITTED',
    size          INTEGER NOT NULL DEFAULT 0,
    file_count    INTEGER NOT NULL DEFAULT 0,
    history_step  INTEGER,
    ttl_seconds   INTEGER NOT NULL DEFAULT -1,
    created_by_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (sequence_id, version_index),
    UNIQUE (sequence_id, digest)
);
CREATE TABLE IF NOT EXISTS artifact_aliases (
    id          INTEGER PRIMARY KEY,
    sequence_id INTEGER NOT NULL REFERENCES artifact_sequences(id) ON DELETE CASCADE,
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    alias       TEXT NOT NULL,
    UNIQUE (sequence_id, alias)
);
CREATE TABLE IF NOT EXISTS artifact_tags (
    id          INTEGER PRIMARY KEY,
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    UNIQUE (artifact_id, name)
);
CREATE TABLE IF NOT EXISTS artifact_usages (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    used_as     TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, artifact_id)
);
