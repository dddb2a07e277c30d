-- Step 5: uploads handed out as a bucket's pre-signed PUT URLs (runapi serve --storage
-- s3://...). The bytes never reach the server, so a run file is not listed until its
-- object exists: createRunFiles records the key here, and a read of the run's files
-- looks (HEAD) and moves what arrived into `files` (runapi_server/bucket_files.py).
CREATE TABLE pending_uploads (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,                  -- the run file's name
    storage     TEXT NOT NULL UNIQUE,           -- the object key the URL puts to
    created_s   INTEGER NOT NULL                -- when the URL was signed (epoch seconds)
);
CREATE INDEX pending_uploads_by_run ON pending_uploads (run_id, id);
