-- Indirect providers serve countries; relationships tie resellers to providers (and, with the
-- customer invitations, partners to customers).

ALTER TABLE partners ADD COLUMN served_countries JSONB NOT NULL DEFAULT '[]'::jsonb;

CREATE TABLE relationships (
    id UUID PRIMARY KEY,
    kind TEXT NOT NULL,
    reseller_id UUID NOT NULL REFERENCES partners (id),
    provider_id UUID REFERENCES partners (id),
    -- Whether the provider keeps administrator access to the reseller's work account.
    admin_access BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    removed_at BIGINT
);
CREATE UNIQUE INDEX relationships_one_per_reseller_provider
    ON relationships (reseller_id, provider_id) WHERE kind = 'reseller_provider' AND removed_at IS NULL;
