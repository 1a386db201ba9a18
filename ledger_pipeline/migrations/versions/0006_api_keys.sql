CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    revoked_at TIMESTAMP WITH TIME ZONE,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (id)
)
