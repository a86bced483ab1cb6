-- The delivery log is read newest first by `seq` (GET …/webhooks/{id}/deliveries), but its index
-- ordered a subscription's deliveries by `created_at`: every page read all of the subscription's
-- deliveries, bodies included, and sorted them, so a page of a busy subscription cost as much as
-- its whole history. Ordered by `seq`, a page reads its own rows from the end of the index. The
-- index replaces the old one, so a delivery's insert and record maintain as many indexes as before.
CREATE INDEX "webhook_delivery_log_idx" ON "webhook_delivery" ("subscription_id", "seq");
DROP INDEX "webhook_delivery_list_idx";
