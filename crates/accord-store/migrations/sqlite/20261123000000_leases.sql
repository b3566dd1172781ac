-- Claims for several nodes. A due timer is claimed ('firing') like an email ('sending'): the
-- claim numbers the attempt (the fencing number its completion must show), lasts until its
-- lease lapses, and records when it was taken and whether it took over a lapsed claim.

ALTER TABLE timers ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE timers ADD COLUMN lease_until BIGINT;
ALTER TABLE timers ADD COLUMN claimed_at BIGINT;
ALTER TABLE timers ADD COLUMN took_over BOOLEAN NOT NULL DEFAULT 0;
-- Claims whose lease lapsed, for the scheduler and for metrics.
CREATE INDEX timers_firing_by_lease ON timers (lease_until) WHERE status = 'firing';
-- The earlier pending timers of an instance, which must fire first.
CREATE INDEX timers_pending_by_instance ON timers (instance_id, due_at) WHERE status IN ('armed', 'firing');

ALTER TABLE outbox ADD COLUMN claimed_at BIGINT;
ALTER TABLE outbox ADD COLUMN took_over BOOLEAN NOT NULL DEFAULT 0;
