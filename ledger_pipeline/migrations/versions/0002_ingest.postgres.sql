CREATE UNIQUE INDEX IF NOT EXISTS raw_records_key ON raw_records (source, stream, object_id, record_hash);
CREATE INDEX IF NOT EXISTS raw_records_change_seq ON raw_records (change_seq)
