-- Routing stores an event's deliveries through a function, whose plan PostgreSQL (and PGlite)
-- keep for the session, rather than a statement planned at every event (ADR 0008).

-- Creates deliveries (the i-th element of each array is one), in the given order, skipping any
-- that exists: the same event routed twice has the same delivery id. Returns how many it created.
-- They are due from `due_at`, the router's clock, which the dispatcher claims by: the database's
-- `CURRENT_TIMESTAMP`, rounded to milliseconds, can lie up to half a millisecond ahead, and a
-- claim made at once would then find a new delivery not yet due and leave it to the next poll.
CREATE FUNCTION webhook_enqueue(
    ids TEXT[], subscription_ids TEXT[], event_ids TEXT[], event_types TEXT[], content_types TEXT[],
    bodies TEXT[], occurred_ats TIMESTAMPTZ[], give_up_ats TIMESTAMPTZ[], due_at TIMESTAMPTZ
) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    created INTEGER;
BEGIN
    INSERT INTO webhook_delivery
        (id, subscription_id, event_id, event_type, content_type, body, occurred_at, give_up_at,
         next_attempt_at)
    SELECT t.id, t.subscription_id, t.event_id, t.event_type, t.content_type, t.body, t.occurred_at,
        t.give_up_at, due_at
    FROM unnest(ids, subscription_ids, event_ids, event_types, content_types, bodies, occurred_ats,
        give_up_ats) WITH ORDINALITY
        AS t(id, subscription_id, event_id, event_type, content_type, body, occurred_at, give_up_at, n)
    ORDER BY t.n
    ON CONFLICT (id) DO NOTHING;
    GET DIAGNOSTICS created = ROW_COUNT;
    RETURN created;
END
$$;
