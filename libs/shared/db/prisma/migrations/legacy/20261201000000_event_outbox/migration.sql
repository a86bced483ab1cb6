-- The transactional outbox (ADR 0006): every event is inserted in the transaction of the change it
-- reports, and a relay publishes the rows in `seq` order and stamps `published_at` once the bus
-- has accepted them. Published rows are kept for a while (for replay and inspection), then purged.
CREATE TABLE "event_outbox" (
    "seq" BIGSERIAL PRIMARY KEY,
    -- The event's id: the bus's de-duplication key, and what consumers de-duplicate by.
    "id" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "published_at" TIMESTAMPTZ(3)
);
CREATE UNIQUE INDEX "event_outbox_id_key" ON "event_outbox" ("id");
-- What the relay reads: the unpublished rows, in order. Small, because rows leave it when published.
CREATE INDEX "event_outbox_unpublished_idx" ON "event_outbox" ("seq") WHERE "published_at" IS NULL;

-- Who relays the outbox now: one relay at a time holds this lease (renewed while it works), so
-- events leave in order and no two relays publish the same row at once. A relay that dies stops
-- renewing, and the next one takes over when the lease runs out (ADR 0007).
CREATE TABLE "event_outbox_relay" (
    "name" TEXT PRIMARY KEY,
    "owner" TEXT NOT NULL,
    "lease_until" TIMESTAMPTZ(3) NOT NULL
);
