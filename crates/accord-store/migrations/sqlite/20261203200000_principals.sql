-- Principals: partner keys act as one user of one partner; every key may expire or be revoked
-- and records when it was last used. The audit log keeps the acting person (actor) and what
-- authenticated the request (principal) apart.
ALTER TABLE api_keys ADD COLUMN partner_id BLOB;
ALTER TABLE api_keys ADD COLUMN user_email TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
ALTER TABLE audit_log ADD COLUMN principal TEXT NOT NULL DEFAULT '';
