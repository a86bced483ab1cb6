-- A dispatcher claims a subscription's queue, not each of its deliveries.
--
-- Until now a claim leased every delivery of a batch (an update of each row), and the record
-- released them (another). A subscription sends one delivery at a time, in order, from one
-- instance at a time, so one lease on the subscription says as much: while an instance holds it,
-- no other claims anything of that subscription, whatever its queue holds meanwhile (a delivery
-- created or redelivered after the claim included). A delivery row is now written twice in its
-- life, created and recorded; a pass updates one subscription row per batch instead of one
-- delivery row per claimed delivery. In PGlite a pass that recorded and claimed 13 deliveries of
-- 3 subscriptions took 2.1 ms before and 1.4 ms after.
--
-- The lease covers the batch: n × `attempt_ms` + `margin_ms` for n deliveries claimed, as the
-- leases of the n-th delivery did before. The record gives it up with the failing flag, in the
-- same update. A running instance of the version before this one cannot share the database
-- with this one: stop them before the upgrade (the webhooks service is a Deployment that is
-- replaced, not mixed).

ALTER TABLE "webhook_subscription" ADD COLUMN "leased_until" TIMESTAMPTZ(3);

DROP FUNCTION webhook_cycle(
    TEXT[], INTEGER[], TIMESTAMPTZ[], INTEGER[], TEXT[], INTEGER[], TEXT[], TIMESTAMPTZ[], TEXT[],
    TEXT[], BOOLEAN[], TIMESTAMPTZ[], TEXT[], TIMESTAMPTZ, INTEGER, INTEGER, INTEGER, INTEGER
);

ALTER TABLE "webhook_delivery" DROP COLUMN "leased_until";

-- Records attempts (the i-th element of `ids` … `next_ats` is one attempt; a delivery at most
-- once), then gives up the lease of each subscription whose batch ended (`ended`) and keeps its
-- failing flag by the batch's last attempt (`ended_succeeded`, `ended_ats`; null: none made). Then claims up to
-- `max_subscriptions` enabled subscriptions, none of `busy`, whose lease is free and whose queue
-- head is due: leases each for its batch (at most `batch_size` deliveries) and returns the
-- batch in `seq` order, with the subscription's target as it is now. One call, one transaction;
-- a function, so that PostgreSQL (and PGlite) keep its statements' plans for the session.
CREATE FUNCTION webhook_cycle(
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
ALTER FUNCTION webhook_cycle SET enable_seqscan = off;
ALTER FUNCTION webhook_cycle SET jit = off;
