-- A dispatcher pass stores the deliveries routed since the last pass (ADR 0012).
--
-- Until now the router stored an event's deliveries with a statement of its own
-- (`webhook_enqueue`), and the next pass claimed them with another. Under load the two ran once
-- per event batch and once per pass; in the all-in-one each is a transaction of the embedded
-- PostgreSQL on the thread that serves the pushes. `webhook_cycle` now takes the new deliveries
-- too, inserts them first, and claims what is due in the same call: one statement and one
-- transaction per pass, however many events were routed since the last one. `webhook_enqueue`
-- stays, for deliveries stored while no dispatcher runs (before it starts, after it stops).
--
-- The old signature is dropped: a running instance of the version before this one cannot share
-- the database with this one (the webhooks service is a Deployment that is replaced, not mixed).

DROP FUNCTION webhook_cycle(
    TEXT[], INTEGER[], TIMESTAMPTZ[], INTEGER[], TEXT[], INTEGER[], TEXT[], TIMESTAMPTZ[],
    TEXT[], BOOLEAN[], TIMESTAMPTZ[], TEXT[], TIMESTAMPTZ, INTEGER, INTEGER, INTEGER, INTEGER
);

CREATE FUNCTION webhook_cycle(
    new_ids TEXT[], new_subscription_ids TEXT[], new_event_ids TEXT[], new_event_types TEXT[],
    new_content_types TEXT[], new_bodies TEXT[], new_occurred_ats TIMESTAMPTZ[],
    new_give_up_ats TIMESTAMPTZ[],
    ids TEXT[], attempt_numbers INTEGER[], ats TIMESTAMPTZ[], codes INTEGER[], errors TEXT[],
    latencies INTEGER[], statuses TEXT[], next_ats TIMESTAMPTZ[],
    ended TEXT[], ended_succeeded BOOLEAN[], ended_ats TIMESTAMPTZ[],
    busy TEXT[], at_now TIMESTAMPTZ, max_subscriptions INTEGER, batch_size INTEGER,
    attempt_ms INTEGER, margin_ms INTEGER
) RETURNS TABLE (
    "id" TEXT, "subscriptionId" TEXT, "eventId" TEXT, "eventType" TEXT, "contentType" TEXT,
    "body" TEXT, "status" TEXT, "attempts" INTEGER, "nextAttemptAt" TIMESTAMPTZ,
    "giveUpAt" TIMESTAMPTZ, "lastResponseCode" INTEGER, "lastError" TEXT, "lastLatencyMs" INTEGER,
    "occurredAt" TIMESTAMPTZ, "createdAt" TIMESTAMPTZ, "deliveredAt" TIMESTAMPTZ, "seq" BIGINT,
    "url" TEXT, "headersSealed" TEXT, "secretSealed" TEXT, "previousSecretSealed" TEXT,
    "previousSecretExpiresAt" TIMESTAMPTZ
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    leased_ids TEXT[];
    leased_counts BIGINT[];
BEGIN
    -- New deliveries first, as webhook_enqueue stores them (due from `at_now`), so that the claim
    -- below finds them: a delivery routed between two passes is stored and claimed by one call.
    IF cardinality(new_ids) > 0 THEN
        INSERT INTO webhook_delivery
            (id, subscription_id, event_id, event_type, content_type, body, occurred_at, give_up_at,
             next_attempt_at)
        SELECT t.id, t.subscription_id, t.event_id, t.event_type, t.content_type, t.body,
            t.occurred_at, t.give_up_at, at_now
        FROM unnest(new_ids, new_subscription_ids, new_event_ids, new_event_types, new_content_types,
            new_bodies, new_occurred_ats, new_give_up_ats) WITH ORDINALITY
            AS t(id, subscription_id, event_id, event_type, content_type, body, occurred_at,
                give_up_at, n)
        ORDER BY t.n
        ON CONFLICT (id) DO NOTHING;
    END IF;

    IF cardinality(ids) > 0 THEN
        -- The attempt a delivery's row held until now moves to the log (only a retry has one).
        IF (SELECT max(n) FROM unnest(attempt_numbers) AS n) > 1 THEN
            INSERT INTO webhook_attempt (delivery_id, attempt, at, response_code, error, latency_ms)
            SELECT d.id, d.attempts, COALESCE(d.last_attempt_at, d.updated_at), d.last_response_code,
                d.last_error, d.last_latency_ms
            FROM webhook_delivery d
            WHERE d.id = ANY(ids) AND d.attempts > 0
              -- Failing a disabled subscription's deliveries may have moved it already.
              AND NOT EXISTS (
                  SELECT 1 FROM webhook_attempt a WHERE a.delivery_id = d.id AND a.attempt = d.attempts);
        END IF;

        UPDATE webhook_delivery d
        SET attempts = i.attempt, status = i.status, last_attempt_at = i.at,
            last_response_code = i.code, last_error = i.error, last_latency_ms = i.latency,
            updated_at = i.at, next_attempt_at = COALESCE(i.next_at, d.next_attempt_at),
            delivered_at = CASE WHEN i.status = 'delivered' THEN i.at ELSE d.delivered_at END
        FROM unnest(ids, attempt_numbers, ats, codes, errors, latencies, statuses, next_ats)
            AS i(id, attempt, at, code, error, latency, status, next_at)
        WHERE d.id = i.id;
    END IF;

    IF cardinality(ended) > 0 THEN
        UPDATE webhook_subscription s
        SET leased_until = NULL,
            consecutive_failures = CASE WHEN e.succeeded IS NULL THEN s.consecutive_failures
                WHEN e.succeeded THEN 0 ELSE s.consecutive_failures + 1 END,
            failing_since = CASE WHEN e.succeeded IS NULL THEN s.failing_since
                WHEN e.succeeded THEN NULL ELSE COALESCE(s.failing_since, e.at) END
        FROM unnest(ended, ended_succeeded, ended_ats) AS e(id, succeeded, at)
        WHERE s.id = e.id;
    END IF;

    IF max_subscriptions <= 0 THEN
        RETURN;
    END IF;

    -- The lease is taken first. Another instance claiming at the same time waits for this
    -- transaction on the subscription's row, then finds it leased; the `leased_until` test is in
    -- the update itself, so that it is made again on the row as it is then.
    WITH due AS (
        SELECT s.id,
            -- The batch's size, for the lease's length: one probe of the pending queue.
            (SELECT count(*) FROM (
                SELECT 1 FROM webhook_delivery c
                WHERE c.subscription_id = s.id AND c.status = 'pending'
                ORDER BY c.seq LIMIT batch_size) AS batch) AS n
        FROM webhook_subscription s
        WHERE s.enabled AND NOT (s.id = ANY(busy))
          AND (s.leased_until IS NULL OR s.leased_until <= at_now)
          -- The head of the queue is due: one index probe, so a backlog behind a target that is
          -- down costs nothing to the poll.
          AND (SELECT p.next_attempt_at FROM webhook_delivery p
               WHERE p.subscription_id = s.id AND p.status = 'pending'
               ORDER BY p.seq LIMIT 1) <= at_now
        LIMIT max_subscriptions
    ), leased AS (
        UPDATE webhook_subscription s
        SET leased_until = at_now + (due.n * attempt_ms + margin_ms) * interval '1 millisecond'
        FROM due
        WHERE s.id = due.id AND s.enabled AND (s.leased_until IS NULL OR s.leased_until <= at_now)
        RETURNING s.id, due.n
    )
    SELECT array_agg(leased.id), array_agg(leased.n) INTO leased_ids, leased_counts FROM leased;

    IF leased_ids IS NULL THEN
        RETURN;
    END IF;
    -- A statement of its own, so that it reads the queues as they are once the leases are held.
    RETURN QUERY
    SELECT q.id, q.subscription_id, q.event_id, q.event_type, q.content_type, q.body, q.status,
        q.attempts, q.next_attempt_at, q.give_up_at, q.last_response_code, q.last_error,
        q.last_latency_ms, q.occurred_at, q.created_at, q.delivered_at, q.seq, s.url,
        s.headers_sealed, s.secret_sealed, s.previous_secret_sealed, s.previous_secret_expires_at
    FROM unnest(leased_ids, leased_counts) AS l(id, n)
    JOIN webhook_subscription s ON s.id = l.id
    CROSS JOIN LATERAL (
        SELECT w.* FROM webhook_delivery w
        WHERE w.subscription_id = l.id AND w.status = 'pending'
        ORDER BY w.seq LIMIT l.n
    ) q;
END
$$;

-- As before (migration 20261204000000): indexes only, and no JIT for these small statements.
-- As before (migration 20261204000000): indexes only, and no JIT for these small statements.
ALTER FUNCTION webhook_cycle SET enable_seqscan = off;
ALTER FUNCTION webhook_cycle SET jit = off;
