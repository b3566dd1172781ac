-- Who an email is from, whom replies go to, and the recipient's display name: settled when the
-- email is rendered (per workflow, from the directory where it fits), sent as rendered.
ALTER TABLE outbox ADD COLUMN recipient_name TEXT;
ALTER TABLE outbox ADD COLUMN sender TEXT;
ALTER TABLE outbox ADD COLUMN reply_to TEXT;
