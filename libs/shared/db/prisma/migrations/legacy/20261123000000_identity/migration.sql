-- Identity and access: users, projects and their members, robot accounts, token signing keys,
-- refresh tokens and the audit log.
CREATE TABLE "account" (
    "id" SERIAL PRIMARY KEY,
    "username" TEXT NOT NULL COLLATE "C",
    -- NULL for people who sign in through LDAP or OIDC.
    "password_hash" TEXT,
    "email" TEXT,
    "admin" BOOLEAN NOT NULL DEFAULT false,
    -- Where the account signs in: local, ldap or oidc.
    "source" TEXT NOT NULL DEFAULT 'local',
    -- Directory groups seen at the last LDAP or OIDC login; they carry project roles.
    "groups" JSONB NOT NULL DEFAULT '[]',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "account_username_key" ON "account" ("username");

CREATE TABLE "project" (
    "id" SERIAL PRIMARY KEY,
    "name" TEXT NOT NULL COLLATE "C",
    "public" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "project_name_key" ON "project" ("name");

-- A user (kind 'user', by username) or a directory group (kind 'group') with a role in a project.
CREATE TABLE "project_member" (
    "project_id" INTEGER NOT NULL REFERENCES "project"("id") ON DELETE CASCADE,
    "kind" TEXT NOT NULL,
    "name" TEXT NOT NULL COLLATE "C",
    "role" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY ("project_id", "kind", "name")
);
CREATE INDEX "project_member_name_idx" ON "project_member" ("kind", "name");

CREATE TABLE "robot" (
    "id" SERIAL PRIMARY KEY,
    "name" TEXT NOT NULL COLLATE "C",
    "description" TEXT,
    -- NULL for robots that only sign in through an OIDC trust rule.
    "secret_hash" TEXT,
    -- [{project, repositories?, actions}]
    "permissions" JSONB NOT NULL,
    "expires_at" TIMESTAMPTZ(3),
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "robot_name_key" ON "robot" ("name");

-- ES256 keys of the token service. A key signs while it is the newest; after it is retired its
-- public half stays published until the tokens it signed have expired.
CREATE TABLE "signing_key" (
    "kid" TEXT PRIMARY KEY,
    "private_key" TEXT NOT NULL,
    "public_jwk" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "retired_at" TIMESTAMPTZ(3)
);

-- Refresh tokens (the `offline_token` / `access_type=offline` grants), stored as SHA-256 hashes.
CREATE TABLE "refresh_token" (
    "hash" TEXT PRIMARY KEY,
    "subject" TEXT NOT NULL,
    "client_id" TEXT,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX "refresh_token_subject_idx" ON "refresh_token" ("subject");

CREATE TABLE "audit_log" (
    "id" BIGSERIAL PRIMARY KEY,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "source_address" TEXT,
    "action" TEXT NOT NULL,
    "resource" TEXT,
    -- success, failure or denied
    "outcome" TEXT NOT NULL,
    "detail" JSONB
);
CREATE INDEX "audit_log_occurred_at_idx" ON "audit_log" ("occurred_at" DESC, "id" DESC);
CREATE INDEX "audit_log_actor_idx" ON "audit_log" ("actor", "occurred_at" DESC);
CREATE INDEX "audit_log_action_idx" ON "audit_log" ("action", "occurred_at" DESC);
