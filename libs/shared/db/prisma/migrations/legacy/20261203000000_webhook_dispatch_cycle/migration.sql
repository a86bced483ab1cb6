-- The webhook dispatcher writes less per delivery.
--
-- 1. A delivery's row holds its last attempt (`last_attempt_at` with the `last_*` columns it
--    already had); `webhook_attempt` holds only the attempts before it. A delivery that succeeds
--    at its first attempt, nearly all of them, so writes no attempt row at all.
-- 2. One call, `webhook_cycle`, records the batches that ended since the dispatcher's last pass,
--    whatever their subscriptions, and claims the next ones: one statement per pass instead of a
--    claim per pass and a record per batch. It replaces `webhook_claim` and `webhook_record`.
-- 3. A delivery's id is derived from its subscription's and its event's ids (a UUID made of a
--    SHA-256 of both), so the primary key alone keeps one delivery per pair: one index less to
--    write per delivery. Deliveries created before keep their random ids; an event routed both
--    before and after this migration (replayed across the upgrade) could be delivered twice.
-- 4. Pages keep room for the claim's update (lease, time), which touches no indexed column, so
--    that it can be a heap-only update that writes no index entry.

ALTER TABLE "webhook_delivery" ADD COLUMN "last_attempt_at" TIMESTAMPTZ(3);
DROP INDEX "webhook_delivery_subscription_event_key";
ALTER TABLE "webhook_delivery" SET (fillfactor = 80);

UPDATE "webhook_delivery" d SET "last_attempt_at" = a."at"
FROM "webhook_attempt" a WHERE a."delivery_id" = d."id" AND a."attempt" = d."attempts";

DELETE FROM "webhook_attempt" a USING "webhook_delivery" d
WHERE a."delivery_id" = d."id" AND a."attempt" = d."attempts";

DROP FUNCTION webhook_claim(TEXT[], TIMESTAMPTZ, INTEGER, INTEGER, INTEGER, INTEGER);
DROP FUNCTION webhook_record(
    TEXT, TEXT[], INTEGER[], TIMESTAMPTZ[], INTEGER[], TEXT[], INTEGER[], TEXT[], TIMESTAMPTZ[], TEXT[],
    BOOLEAN, TIMESTAMPTZ
);

-- Records attempts (the i-th element of `ids` … `next_ats` is one attempt; a delivery at most
-- once), releases the claimed deliveries that were not sent (`unsent`), keeps the failing flag of
-- each subscription whose batch ended by its last attempt (`ended`, `ended_succeeded`,
-- `ended_ats`), then claims the next deliveries of up to `max_subscriptions` enabled
-- subscriptions whose queue head is due and not leased, none of `busy`: at most `batch_size` of
-- each, in `seq` order. The n-th delivery of a batch is leased for n × `attempt_ms` + `margin_ms`,
-- since it is sent after the n − 1 before it. Returns each claimed delivery with its
-- subscription's target as it is now. One call, one transaction; a function, so that PostgreSQL
-- (and PGlite) keep its statements' plans for the session.
CREATE FUNCTION webhook_cycle(
    ids TEXT[], attempt_numbers INTEGER[], ats TIMESTAMPTZ[], codes INTEGER[], errors TEXT[],
    latencies INTEGER[], statuses TEXT[], next_ats TIMESTAMPTZ[], unsent TEXT[],
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
BEGIN
    IF cardinality(ids) > 0 THEN
        -- The attempt a delivery's row held until now moves to the log.
        INSERT INTO webhook_attempt (delivery_id, attempt, at, response_code, error, latency_ms)
        SELECT d.id, d.attempts, COALESCE(d.last_attempt_at, d.updated_at), d.last_response_code,
            d.last_error, d.last_latency_ms
        FROM webhook_delivery d
        WHERE d.id = ANY(ids) AND d.attempts > 0
          -- Failing a disabled subscription's deliveries may have moved it already.
          AND NOT EXISTS (
              SELECT 1 FROM webhook_attempt a WHERE a.delivery_id = d.id AND a.attempt = d.attempts);

        UPDATE webhook_delivery d
        SET attempts = i.attempt, status = i.status, leased_until = NULL, last_attempt_at = i.at,
            last_response_code = i.code, last_error = i.error, last_latency_ms = i.latency,
            updated_at = i.at, next_attempt_at = COALESCE(i.next_at, d.next_attempt_at),
            delivered_at = CASE WHEN i.status = 'delivered' THEN i.at ELSE d.delivered_at END
        FROM unnest(ids, attempt_numbers, ats, codes, errors, latencies, statuses, next_ats)
            AS i(id, attempt, at, code, error, latency, status, next_at)
        WHERE d.id = i.id;

        UPDATE webhook_subscription s
        SET consecutive_failures = CASE WHEN e.succeeded THEN 0 ELSE s.consecutive_failures + 1 END,
            failing_since = CASE WHEN e.succeeded THEN NULL ELSE COALESCE(s.failing_since, e.at) END
        FROM unnest(ended, ended_succeeded, ended_ats) AS e(id, succeeded, at)
        WHERE s.id = e.id
          AND (NOT e.succeeded OR s.consecutive_failures > 0 OR s.failing_since IS NOT NULL);
    END IF;

    IF cardinality(unsent) > 0 THEN
        UPDATE webhook_delivery SET leased_until = NULL WHERE id = ANY(unsent);
    END IF;

    IF max_subscriptions <= 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH heads AS (
        -- The head of each enabled subscription's queue: one index probe per subscription, so a
        -- backlog behind a target that is down costs nothing to the poll.
        SELECT s.id AS subscription_id, h.next_attempt_at, h.leased_until
        FROM webhook_subscription s
        CROSS JOIN LATERAL (
            SELECT p.next_attempt_at, p.leased_until FROM webhook_delivery p
            WHERE p.subscription_id = s.id AND p.status = 'pending'
            ORDER BY p.seq LIMIT 1
        ) h
        WHERE s.enabled AND NOT (s.id = ANY(busy))
    ), due AS (
        SELECT heads.subscription_id FROM heads
        WHERE heads.next_attempt_at <= at_now AND (heads.leased_until IS NULL OR heads.leased_until <= at_now)
        LIMIT max_subscriptions
    ), batch AS (
        SELECT q.id, q.rank FROM due, LATERAL (
            SELECT w.id, row_number() OVER (ORDER BY w.seq) AS rank FROM webhook_delivery w
            WHERE w.subscription_id = due.subscription_id AND w.status = 'pending'
            ORDER BY w.seq LIMIT batch_size
        ) q
    )
    UPDATE webhook_delivery d
    SET leased_until = at_now + (batch.rank * attempt_ms + margin_ms) * interval '1 millisecond',
        updated_at = at_now
    FROM webhook_subscription s, batch
    WHERE d.id = batch.id AND s.id = d.subscription_id AND d.status = 'pending'
      AND (d.leased_until IS NULL OR d.leased_until <= at_now)
    RETURNING d.id, d.subscription_id, d.event_id, d.event_type, d.content_type, d.body, d.status,
        d.attempts, d.next_attempt_at, d.give_up_at, d.last_response_code, d.last_error,
        d.last_latency_ms, d.occurred_at, d.created_at, d.delivered_at, d.seq, s.url,
        s.headers_sealed, s.secret_sealed, s.previous_secret_sealed, s.previous_secret_expires_at;
END
$$;
