-- Step 4: sealed history exports. A part is sealed once the run has ended with it (the
-- point from which readers are handed its URL, and wandb-core caches it by its index in
-- the list): sealed parts are never merged or replaced, so an index keeps its contents
-- when a resumed run adds parts. Parts made before this step are sealed.
ALTER TABLE history_exports ADD COLUMN sealed INTEGER NOT NULL DEFAULT 1;
