-- The engine's tables: definitions, instances, their history, timers, the outbox, API keys and
-- periodic-job ticks. Times are Unix milliseconds.

CREATE TABLE definitions (
    hash TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE instances (
    id UUID PRIMARY KEY,
    workflow TEXT NOT NULL,
    definition_hash TEXT NOT NULL REFERENCES definitions (hash),
    state TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    context JSONB NOT NULL,
    start_key TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX instances_by_workflow_state ON instances (workflow, state, created_at);
CREATE INDEX instances_by_created ON instances (created_at);

CREATE TABLE history (
    id UUID PRIMARY KEY,
    instance_id UUID NOT NULL REFERENCES instances (id),
    seq BIGINT NOT NULL,
    event TEXT NOT NULL,
    origin TEXT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    data JSONB NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    at BIGINT NOT NULL,
    UNIQUE (instance_id, seq),
    UNIQUE (instance_id, idempotency_key)
);

CREATE TABLE timers (
    id UUID PRIMARY KEY,
    instance_id UUID NOT NULL REFERENCES instances (id),
    name TEXT NOT NULL,
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    settled_at BIGINT,
    note TEXT
);
CREATE INDEX timers_armed_by_due ON timers (due_at) WHERE status = 'armed';
CREATE INDEX timers_by_instance ON timers (instance_id);

CREATE TABLE outbox (
    id UUID PRIMARY KEY,
    instance_id UUID NOT NULL REFERENCES instances (id),
    history_seq BIGINT NOT NULL,
    template TEXT NOT NULL,
    party TEXT NOT NULL,
    recipient TEXT NOT NULL,
    links JSONB NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_by_instance ON outbox (instance_id);
CREATE INDEX outbox_by_status ON outbox (status, created_at);

CREATE TABLE api_keys (
    id UUID PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE schedule_ticks (
    name TEXT PRIMARY KEY,
    last_tick BIGINT NOT NULL
);
