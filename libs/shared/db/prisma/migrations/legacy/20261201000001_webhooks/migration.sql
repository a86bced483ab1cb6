-- Webhook subscriptions of projects. Secrets and extra headers are sealed (AES-256-GCM) with the
-- webhooks key: the dispatcher needs them in clear, the database never holds them so.
CREATE TABLE "webhook_subscription" (
    "id" TEXT PRIMARY KEY,
    "project" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "events" JSONB NOT NULL,
    -- default, cloudevents or distribution
    "format" TEXT NOT NULL,
    "repositories" JSONB,
    "tags" JSONB,
    "headers_sealed" TEXT,
    "secret_sealed" TEXT NOT NULL,
    -- The secret before the last rotation, still signed with until it expires.
    "previous_secret_sealed" TEXT,
    "previous_secret_expires_at" TIMESTAMPTZ(3),
    "enabled" BOOLEAN NOT NULL DEFAULT TRUE,
    "disabled_reason" TEXT,
    -- Set at the first failed attempt after a success, cleared by the next success.
    "failing_since" TIMESTAMPTZ(3),
    "consecutive_failures" INTEGER NOT NULL DEFAULT 0,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "webhook_subscription_project_name_key" ON "webhook_subscription" ("project", "name");

-- One event for one subscription: rendered once, sent until it is delivered or the retry window
-- ends. Its id is the `webhook-id` of every attempt. A subscription sends its deliveries in `seq`
-- order, one at a time.
CREATE TABLE "webhook_delivery" (
    "id" TEXT PRIMARY KEY,
    "seq" BIGSERIAL NOT NULL,
    "subscription_id" TEXT NOT NULL REFERENCES "webhook_subscription" ("id") ON DELETE CASCADE,
    "event_id" TEXT NOT NULL,
    "event_type" TEXT NOT NULL,
    "content_type" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    -- pending, delivered or failed
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    -- Until when an instance holds it for an attempt in flight.
    "leased_until" TIMESTAMPTZ(3),
    "give_up_at" TIMESTAMPTZ(3) NOT NULL,
    "last_response_code" INTEGER,
    "last_error" TEXT,
    "last_latency_ms" INTEGER,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "delivered_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "webhook_delivery_subscription_event_key" ON "webhook_delivery" ("subscription_id", "event_id");
CREATE INDEX "webhook_delivery_pending_idx" ON "webhook_delivery" ("subscription_id", "seq") WHERE "status" = 'pending';
CREATE INDEX "webhook_delivery_list_idx" ON "webhook_delivery" ("subscription_id", "created_at");

-- Every attempt of a delivery, for the delivery log.
CREATE TABLE "webhook_attempt" (
    "id" BIGSERIAL PRIMARY KEY,
    "delivery_id" TEXT NOT NULL REFERENCES "webhook_delivery" ("id") ON DELETE CASCADE,
    "attempt" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "response_code" INTEGER,
    "error" TEXT,
    "latency_ms" INTEGER
);
CREATE INDEX "webhook_attempt_delivery_idx" ON "webhook_attempt" ("delivery_id", "attempt");
