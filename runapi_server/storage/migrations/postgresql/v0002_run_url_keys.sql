-- Step 2 (PostgreSQL): a random key per run, as sqlite/v0002_run_url_keys.sql (32 lower
-- hex digits). gen_random_uuid() is built in from PostgreSQL 13 on.
ALTER TABLE runs ADD COLUMN url_key TEXT NOT NULL DEFAULT '';
UPDATE runs SET url_key = replace(CAST(gen_random_uuid() AS TEXT), '-', '');
