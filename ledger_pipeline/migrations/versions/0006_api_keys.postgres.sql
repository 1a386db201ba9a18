CREATE UNIQUE INDEX IF NOT EXISTS api_keys_token_hash ON api_keys (token_hash)
