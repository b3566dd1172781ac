-- The partner directory: partners and their users with roles, and an audit log of directory
-- changes. Customers and relationships join it with the invitation workflows.

CREATE TABLE partners (
    id UUID PRIMARY KEY,
    kind TEXT NOT NULL,
    legal_name TEXT NOT NULL,
    country TEXT NOT NULL,
    mpn_id TEXT NOT NULL,
    tenant_domain TEXT NOT NULL,
    status TEXT NOT NULL,
    -- The enrollment instance that created it.
    enrollment_id UUID,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX partners_by_kind ON partners (kind, status);

CREATE TABLE partner_users (
    partner_id UUID NOT NULL REFERENCES partners (id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    -- JSON list of roles: global_admin, user_admin, admin_agent, sales_agent.
    roles JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (partner_id, email)
);

CREATE TABLE audit_log (
    id UUID PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT,
    data JSONB NOT NULL
);
CREATE INDEX audit_log_by_subject ON audit_log (subject, at);
