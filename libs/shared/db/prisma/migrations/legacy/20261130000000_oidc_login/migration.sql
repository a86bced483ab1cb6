-- OpenID Connect logins in flight: the state of each authorization request, with the nonce and
-- PKCE verifier that its callback needs. Single use (taken with DELETE … RETURNING) and short-lived.
CREATE TABLE "oidc_login" (
    "state" TEXT PRIMARY KEY,
    "nonce" TEXT NOT NULL,
    "code_verifier" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX "oidc_login_expires_at_idx" ON "oidc_login" ("expires_at");
