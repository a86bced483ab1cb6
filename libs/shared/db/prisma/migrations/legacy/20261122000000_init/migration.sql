-- Repositories, blobs, manifests, tags and upload sessions.
CREATE TABLE "repository" (
    "id" SERIAL PRIMARY KEY,
    -- "C" collation: _catalog and tags/list order names by byte, as the spec expects.
    "name" TEXT NOT NULL COLLATE "C",
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "repository_name_key" ON "repository" ("name");

CREATE TABLE "blob" (
    "digest" TEXT PRIMARY KEY,
    "size" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE "repository_blob" (
    "repository_id" INTEGER NOT NULL REFERENCES "repository"("id") ON DELETE CASCADE,
    "digest" TEXT NOT NULL REFERENCES "blob"("digest"),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY ("repository_id", "digest")
);
CREATE INDEX "repository_blob_digest_idx" ON "repository_blob" ("digest");

CREATE TABLE "manifest" (
    "id" BIGSERIAL PRIMARY KEY,
    "repository_id" INTEGER NOT NULL REFERENCES "repository"("id") ON DELETE CASCADE,
    "digest" TEXT NOT NULL,
    "media_type" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "artifact_type" TEXT,
    "subject_digest" TEXT,
    "annotations" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "manifest_repository_id_digest_key" ON "manifest" ("repository_id", "digest");
CREATE INDEX "manifest_repository_id_subject_digest_idx" ON "manifest" ("repository_id", "subject_digest");

CREATE TABLE "manifest_reference" (
    "manifest_id" BIGINT NOT NULL REFERENCES "manifest"("id") ON DELETE CASCADE,
    "kind" TEXT NOT NULL,
    "digest" TEXT NOT NULL,
    PRIMARY KEY ("manifest_id", "kind", "digest")
);
CREATE INDEX "manifest_reference_digest_idx" ON "manifest_reference" ("digest");

CREATE TABLE "tag" (
    "repository_id" INTEGER NOT NULL REFERENCES "repository"("id") ON DELETE CASCADE,
    "name" TEXT NOT NULL COLLATE "C",
    "manifest_id" BIGINT NOT NULL REFERENCES "manifest"("id") ON DELETE CASCADE,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY ("repository_id", "name")
);
CREATE INDEX "tag_manifest_id_idx" ON "tag" ("manifest_id");

CREATE TABLE "upload_session" (
    "id" UUID PRIMARY KEY,
    "repository" TEXT NOT NULL,
    "offset" BIGINT NOT NULL DEFAULT 0,
    "chunks" JSONB NOT NULL DEFAULT '[]',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX "upload_session_updated_at_idx" ON "upload_session" ("updated_at");
