-- The webhooks store takes its tables and the functions of its dispatcher (webhook_enqueue,
-- webhook_cycle) into its own schema (ADR 0014). A database created before stores existed has
-- them in `public`, where the legacy stream made them.
ALTER TABLE public.webhook_subscription SET SCHEMA webhooks;
ALTER TABLE public.webhook_delivery SET SCHEMA webhooks;
ALTER TABLE public.webhook_attempt SET SCHEMA webhooks;

-- The functions' bodies name their tables and each other without a schema, and PL/pgSQL resolves
-- names when it runs, by the search path: each function now carries its own, so it finds this
-- store's objects whatever the caller's search path is.
DO $$
DECLARE
    fn regprocedure;
BEGIN
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname LIKE 'webhook\_%'
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET SCHEMA webhooks', fn);
    END LOOP;
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'webhooks' AND p.proname LIKE 'webhook\_%'
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = webhooks', fn);
    END LOOP;
END
$$;
