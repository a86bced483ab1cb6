-- The registry store (metadata and blobstore, declared one store in ADR 0014) takes its tables
-- into its own schema. A database created before stores existed has them in `public`, where the
-- legacy stream made them; moving keeps every row, index, constraint and sequence.
ALTER TABLE public.repository SET SCHEMA registry;
ALTER TABLE public.blob SET SCHEMA registry;
ALTER TABLE public.repository_blob SET SCHEMA registry;
ALTER TABLE public.manifest SET SCHEMA registry;
ALTER TABLE public.manifest_reference SET SCHEMA registry;
ALTER TABLE public.tag SET SCHEMA registry;
ALTER TABLE public.upload_session SET SCHEMA registry;
