-- Step 3: artifact contents (files, manifests, uploads). Versions are PENDING until
-- commitArtifact; existing artifact rows keep their state (COMMITTED) and have no files.
ALTER TABLE artifacts ADD COLUMN digest_algorithm TEXT NOT NULL DEFAULT 'MANIFEST_MD5';
ALTER TABLE artifacts ADD COLUMN client_id TEXT;        -- CreateArtifactInput.clientID
ALTER TABLE artifacts ADD COLUMN aliases_pending TEXT;  -- JSON aliases applied at commit
-- Blobs are content-addressed per entity by MD5: a file a version shares with an earlier
-- one is stored once and uploaded once. A blob row exists from createArtifactFiles on;
-- `storage` is set when its bytes arrived (verified). AUTOINCREMENT: signed URLs name a
-- blob by id, and an id is never given to another blob after a deletion.
CREATE TABLE artifact_blobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    entity      TEXT NOT NULL,
    md5         TEXT NOT NULL,                  -- base64 MD5 of the bytes
    size        INTEGER,                        -- NULL until the bytes are stored
    storage     TEXT,                           -- path under the data dir; NULL until stored
    birth_artifact_id INTEGER NOT NULL,         -- the version that first declared these bytes
    upload_id   TEXT,                           -- open multipart upload, else NULL
    upload_parts TEXT,                          -- JSON [[part number, hex md5], ...] declared
    uploads     INTEGER NOT NULL DEFAULT 0,     -- times its bytes were received (tests count)
    created_at  TEXT NOT NULL,
    UNIQUE (entity, md5)
);
-- The files of a version: declared by createArtifactFiles, then replaced by the manifest's
-- entries at commitArtifact. A blob is freed when no row refers to it.
CREATE TABLE artifact_files (
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,                  -- manifest path
    digest      TEXT NOT NULL,                  -- base64 MD5 (or the entry digest of a ref)
    size        INTEGER,                        -- from the manifest; NULL until commit
    blob_id     INTEGER REFERENCES artifact_blobs(id), -- NULL for reference entries
    birth_artifact_id INTEGER,
    ref         TEXT,
    extra       TEXT,                           -- JSON of the entry's extra, or NULL
    PRIMARY KEY (artifact_id, name)
) WITHOUT ROWID;
CREATE INDEX artifact_files_blob ON artifact_files (blob_id);
-- One manifest record per version (createArtifactManifest upserts it); `content` is the
-- uploaded manifest JSON, NULL until uploaded. AUTOINCREMENT for the same reason as blobs.
CREATE TABLE artifact_manifests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    artifact_id INTEGER NOT NULL UNIQUE REFERENCES artifacts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL DEFAULT 'FULL',
    digest      TEXT NOT NULL DEFAULT '',
    base_artifact_id INTEGER,
    content     BLOB,
    created_at  TEXT NOT NULL
);
