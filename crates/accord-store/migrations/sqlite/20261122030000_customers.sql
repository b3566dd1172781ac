-- Customers, and their relationships with partners: the type the customer granted (reseller,
-- delegated admin, advisor, ...) and whether the partner holds delegated admin privileges (DAP).
-- A removed relationship keeps its row (removed_at set) and its DAP flag: removing a relationship
-- leaves delegated privileges as they are.

CREATE TABLE customers (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    -- The customer's tenant domain, lower case: one customer per tenant.
    domain TEXT NOT NULL,
    country TEXT NOT NULL,
    -- public, us_government or germany.
    cloud TEXT NOT NULL,
    admin_name TEXT NOT NULL,
    admin_email TEXT NOT NULL,
    locale TEXT,
    -- When and by whom the customer agreement was accepted; NULL until it is.
    agreement_accepted_at BIGINT,
    agreement_accepted_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX customers_by_domain ON customers (domain);

CREATE TABLE customer_relationships (
    id BLOB PRIMARY KEY,
    customer_id BLOB NOT NULL REFERENCES customers (id),
    partner_id BLOB NOT NULL REFERENCES partners (id),
    kind TEXT NOT NULL,
    dap BOOLEAN NOT NULL,
    -- The invitation that created it, if one did.
    instance_id BLOB,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    removed_at BIGINT
);
CREATE UNIQUE INDEX customer_relationships_one_active
    ON customer_relationships (customer_id, partner_id) WHERE removed_at IS NULL;
CREATE INDEX customer_relationships_by_partner ON customer_relationships (partner_id, removed_at);
