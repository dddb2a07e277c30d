-- Step 6: a run's count of writes that changed history lines already stored (a re-sent
-- line with the same text changes nothing). The exporter notes it when it takes lines to
-- write a part unlocked, and records the part without reading the lines back while the
-- count is unchanged (parquet_export._export_unlocked).
ALTER TABLE stream_stats ADD COLUMN rewrites BIGINT NOT NULL DEFAULT 0;
