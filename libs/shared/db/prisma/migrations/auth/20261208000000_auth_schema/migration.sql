-- The auth store takes its tables into its own schema (ADR 0014). A database created before
-- stores existed has them in `public`, where the legacy stream made them; moving keeps every
-- row, index, constraint and sequence.
ALTER TABLE public.account SET SCHEMA auth;
ALTER TABLE public.project SET SCHEMA auth;
ALTER TABLE public.project_member SET SCHEMA auth;
ALTER TABLE public.robot SET SCHEMA auth;
ALTER TABLE public.signing_key SET SCHEMA auth;
ALTER TABLE public.refresh_token SET SCHEMA auth;
ALTER TABLE public.oidc_login SET SCHEMA auth;
ALTER TABLE public.audit_log SET SCHEMA auth;
