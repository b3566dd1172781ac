-- `accord_write_step` again, for an instance that ends: when the step reaches a final state
-- (`cancel_unsent`), the emails earlier steps left unsent (drafts, queued, claimed but not yet
-- handed to the server) become `cancelled` in the step's own statement, so a withdrawn
-- invitation's draft can no longer be released and a queued reminder no longer leaves. The
-- statuses come from the step's `settle` (`settle.cancelled_emails`, `store::step::SETTLE`), the
-- same the shared transaction follows; only rows of earlier steps (`history_seq` below the step's)
-- are touched, so the final state's own notice still goes out.
-- Everything else as in `…_email_headers.sql` (the outbox insert writing who an email is from,
-- whom replies go to and the recipient's name).
--
-- Returns 'ok', or 'conflict' (the instance is not at the expected version) or 'duplicate' (the
-- start key is taken), having written nothing. Raises SQLSTATE AC003 when the fired timer's claim
-- no longer holds, AC004 when the used link is no longer active, and a unique violation when the
-- idempotency key was used before; each undoes the whole call.
CREATE OR REPLACE FUNCTION accord_write_step(w JSONB) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    h JSONB := w -> 'history';
    step_instance UUID := (h ->> 'instance_id')::UUID;
    step_at BIGINT := (h ->> 'at')::BIGINT;
    s JSONB := w -> 'settle';
    -- An array, not a subquery in the WHERE below: a subquery becomes a semi-join, and when a
    -- scheduler's claim moves a timer from armed to firing while this waits for the row, the
    -- recheck would compare the new status with the element the old one matched, and skip it.
    cancel_from TEXT[] := ARRAY(SELECT jsonb_array_elements_text(w #> '{settle,cancelled_timers,from}'));
    unsent_from TEXT[] := ARRAY(SELECT jsonb_array_elements_text(w #> '{settle,cancelled_emails,from}'));
BEGIN
    IF w ? 'create' THEN
        INSERT INTO instances (id, workflow, definition_hash, state, status, version, context, start_key,
                               created_at, updated_at)
        SELECT step_instance, c ->> 'workflow', c ->> 'definition_hash', c ->> 'state', c ->> 'status',
               (c ->> 'version')::BIGINT, c -> 'context', c ->> 'start_key', (c ->> 'created_at')::BIGINT,
               (c ->> 'updated_at')::BIGINT
        FROM (SELECT w -> 'create' AS c) AS src
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RETURN 'duplicate';
        END IF;
    ELSE
        UPDATE instances
        SET state = w ->> 'state', status = w ->> 'status', version = version + 1, context = w -> 'context',
            updated_at = step_at
        WHERE id = step_instance AND version = (w ->> 'expected_version')::BIGINT;
        IF NOT FOUND THEN
            RETURN 'conflict';
        END IF;
    END IF;

    INSERT INTO history (id, instance_id, seq, event, origin, actor, from_state, to_state, data, idempotency_key,
                         fingerprint, at)
    VALUES ((h ->> 'id')::UUID, step_instance, (h ->> 'seq')::BIGINT, h ->> 'event', h ->> 'origin', h ->> 'actor',
            h ->> 'from_state', h ->> 'to_state', h -> 'data', h ->> 'idempotency_key', h ->> 'fingerprint', step_at);

    IF w ? 'fired_timer' THEN
        UPDATE timers SET status = s #>> '{fired_timer,to}', settled_at = step_at, lease_until = NULL
        WHERE id = (w #>> '{fired_timer,id}')::UUID AND status = s #>> '{fired_timer,from}'
          AND attempts = (w #>> '{fired_timer,attempt}')::BIGINT;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'the timer was already settled' USING ERRCODE = 'AC003';
        END IF;
    END IF;

    IF w ? 'used_link' THEN
        UPDATE links SET status = s #>> '{used_link,to}', used_at = step_at
        WHERE hash = w ->> 'used_link' AND status = s #>> '{used_link,from}';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'the link is no longer active' USING ERRCODE = 'AC004';
        END IF;
        IF (w ->> 'cancel_armed_timers')::BOOLEAN THEN
            UPDATE links SET status = s #>> '{answered_links,to}', used_at = step_at
            WHERE instance_id = step_instance AND status = s #>> '{answered_links,from}'
              AND party = (SELECT party FROM links WHERE hash = w ->> 'used_link');
        END IF;
    END IF;

    IF (w ->> 'cancel_armed_timers')::BOOLEAN THEN
        UPDATE timers SET status = s #>> '{cancelled_timers,to}', settled_at = step_at, lease_until = NULL
        WHERE instance_id = step_instance
          AND status = ANY (cancel_from);
    END IF;

    IF (w ->> 'cancel_unsent')::BOOLEAN THEN
        UPDATE outbox SET status = s #>> '{cancelled_emails,to}'
        WHERE instance_id = step_instance AND status = ANY (unsent_from)
          AND history_seq < (h ->> 'seq')::BIGINT;
    END IF;

    IF jsonb_array_length(w -> 'arm') > 0 THEN
        INSERT INTO timers (id, instance_id, name, event, state, due_at, status, created_at)
        SELECT t.id, step_instance, t.name, t.event, t.state, t.due_at, t.status, t.created_at
        FROM jsonb_to_recordset(w -> 'arm')
            AS t (id UUID, name TEXT, event TEXT, state TEXT, due_at BIGINT, status TEXT, created_at BIGINT);
    END IF;

    IF jsonb_array_length(w -> 'emails') > 0 THEN
        INSERT INTO outbox (id, instance_id, history_seq, template, party, recipient, links, status, created_at,
                            locale, subject, text_body, html_body, message_id, attempts, next_attempt_at,
                            recipient_name, sender, reply_to)
        SELECT e.id, step_instance, e.history_seq, e.template, e.party, e.recipient, e.links, e.status,
               e.created_at, e.locale, e.subject, e.text_body, e.html_body, e.message_id, e.attempts, e.next_attempt_at,
               e.recipient_name, e.sender, e.reply_to
        FROM jsonb_to_recordset(w -> 'emails')
            AS e (id UUID, history_seq BIGINT, template TEXT, party TEXT, recipient TEXT, links JSONB, status TEXT,
                  created_at BIGINT, locale TEXT, subject TEXT, text_body TEXT, html_body TEXT, message_id TEXT,
                  attempts BIGINT, next_attempt_at BIGINT, recipient_name TEXT, sender TEXT, reply_to TEXT);
    END IF;

    IF jsonb_array_length(w -> 'supersede') > 0 THEN
        UPDATE links SET status = s #>> '{superseded_links,to}'
        FROM jsonb_to_recordset(w -> 'supersede') AS r (action TEXT, recipient TEXT)
        WHERE links.instance_id = step_instance AND links.status = s #>> '{superseded_links,from}'
          AND links.action = r.action AND links.recipient = r.recipient;
    END IF;

    IF jsonb_array_length(w -> 'links') > 0 THEN
        INSERT INTO links (hash, instance_id, outbox_id, action, event, party, recipient, status, expires_at,
                           created_at)
        SELECT l.hash, step_instance, l.outbox_id, l.action, l.event, l.party, l.recipient, l.status, l.expires_at,
               l.created_at
        FROM jsonb_to_recordset(w -> 'links')
            AS l (hash TEXT, outbox_id UUID, action TEXT, event TEXT, party TEXT, recipient TEXT, status TEXT,
                  expires_at BIGINT, created_at BIGINT);
    END IF;

    RETURN 'ok';
END;
$$;
