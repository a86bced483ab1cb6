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
-- It is an overload of `webhook_cycle` with the new deliveries' eight arrays first: it stores them
-- with `webhook_enqueue`, then runs the pass as before, so neither statement is written twice.

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
BEGIN
    -- First, and due from `at_now`, so that the claim of the pass finds them.
    IF cardinality(new_ids) > 0 THEN
        PERFORM webhook_enqueue(new_ids, new_subscription_ids, new_event_ids, new_event_types,
            new_content_types, new_bodies, new_occurred_ats, new_give_up_ats, at_now);
    END IF;
    RETURN QUERY SELECT * FROM webhook_cycle(ids, attempt_numbers, ats, codes, errors, latencies,
        statuses, next_ats, ended, ended_succeeded, ended_ats, busy, at_now, max_subscriptions,
        batch_size, attempt_ms, margin_ms);
END
$$;
