-- `webhook_cycle` reaches deliveries only through indexes, whatever the statistics say.
--
-- A PL/pgSQL function keeps its statements' plans for the session (ADR 0008), planned with what
-- the statistics said then. The embedded PGlite has no autovacuum, so its statistics are those of
-- a table just created: the record step's join of the batch with `webhook_delivery` was planned
-- as a hash join over a sequential scan of a table believed to hold a few hundred rows. Every
-- pass then read every delivery ever made: 5 ms a pass with 6,000 deliveries, growing with them.
-- Every statement of the function looks deliveries up by primary key or by a subscription's
-- queue, so a sequential scan is never the plan wanted.
--
-- Ruling sequential scans out adds a huge cost to any plan that would still need one, which
-- PostgreSQL then takes for a query worth compiling: with JIT on, every call spent 150 ms or more
-- compiling. The function's statements touch a few rows each, so JIT is off for them.
ALTER FUNCTION webhook_cycle SET enable_seqscan = off;
ALTER FUNCTION webhook_cycle SET jit = off;
