-- Step 2: a random key per run, named in every signed URL and page token of the run
-- (runapi_server/signing.py). A deleted run's URLs stay dead even when a new run gets the
-- same name or database id. Existing runs get a fresh key here; new runs get one from
-- the code that creates them.
ALTER TABLE runs ADD COLUMN url_key TEXT NOT NULL DEFAULT '';
UPDATE runs SET url_key = lower(hex(randomblob(16)));
