CREATE TABLE IF NOT EXISTS raw_records (
    source TEXT NOT NULL,
    stream TEXT NOT NULL,
    object_id TEXT NOT NULL,
    record_hash TEXT NOT NULL,
    record_type TEXT,
    cursor_value TEXT,
    record_ref TEXT,
    raw_json TEXT NOT NULL,
    fields_json TEXT NOT NULL,
    landed_at TIMESTAMPTZ NOT NULL,
    batch_id TEXT NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS connector_cursors (
    source TEXT NOT NULL,
    stream TEXT NOT NULL,
    cursor TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (source, stream)
)
