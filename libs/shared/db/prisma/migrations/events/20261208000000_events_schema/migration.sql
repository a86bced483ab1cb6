-- The events store (the outbox, written by metadata and blobstore in their own transactions
-- through libs/shared/outbox, ADR 0006 and 0014) takes its tables into its own schema. A database created
-- before stores existed has them in `public`, where the legacy stream made them.
ALTER TABLE public.event_outbox SET SCHEMA events;
ALTER TABLE public.event_outbox_relay SET SCHEMA events;
