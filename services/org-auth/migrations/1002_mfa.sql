-- TOTP multi-factor authentication (RFC 6238) with single-use recovery codes. Secrets are
-- sealed with AES-256-GCM (key ORG_AUTH_MFA_KEY); all three tables are credentials, visible to
-- the service's own transactions only.
CREATE TABLE mfa_totp (
    user_id       UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    confirmed_at  TIMESTAMPTZ,
    -- The last accepted time step: a code is never accepted twice.
    last_step     BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE mfa_recovery_codes (
    id        UUID PRIMARY KEY,
    user_id   UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   TIMESTAMPTZ
);
CREATE INDEX idx_recovery_user ON mfa_recovery_codes (user_id) WHERE used_at IS NULL;

-- The second step of a login: the password was right, the code is still due.
CREATE TABLE mfa_challenges (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL UNIQUE,
    organization_id UUID,
    attempts        INT NOT NULL DEFAULT 0,
    expires_at      TIMESTAMPTZ NOT NULL
);

ALTER TABLE mfa_totp ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_totp FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON mfa_totp USING (app_principal_type() = 'system');
ALTER TABLE mfa_recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_recovery_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON mfa_recovery_codes USING (app_principal_type() = 'system');
ALTER TABLE mfa_challenges ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_challenges FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON mfa_challenges USING (app_principal_type() = 'system');
