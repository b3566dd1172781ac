-- Rendered emails, their delivery attempts, and personalised links.

ALTER TABLE outbox ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';
ALTER TABLE outbox ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN text_body TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN html_body TEXT;
ALTER TABLE outbox ADD COLUMN message_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
-- When the dispatcher may next try it (for a row being sent: when its lease lapses).
ALTER TABLE outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_reply TEXT;
ALTER TABLE outbox ADD COLUMN sent_at BIGINT;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('queued', 'sending');

CREATE TABLE email_attempts (
    id UUID PRIMARY KEY,
    outbox_id UUID NOT NULL REFERENCES outbox (id),
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    reply TEXT NOT NULL
);
CREATE INDEX email_attempts_by_outbox ON email_attempts (outbox_id, at);

CREATE TABLE links (
    hash TEXT PRIMARY KEY,
    instance_id UUID NOT NULL REFERENCES instances (id),
    outbox_id UUID NOT NULL,
    action TEXT NOT NULL,
    event TEXT NOT NULL,
    party TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX links_by_instance ON links (instance_id, action, status);
