-- Reviewer console sessions: a reviewer signs in with an API key and gets a random session
-- token in an HttpOnly cookie; only its SHA-256 is kept, with the CSRF token its forms carry.
CREATE TABLE console_sessions (
    hash TEXT PRIMARY KEY,
    key_id UUID NOT NULL REFERENCES api_keys (id),
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
