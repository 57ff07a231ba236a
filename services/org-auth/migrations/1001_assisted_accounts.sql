-- Assisted accounts (spec §0, endpoints 11–16): created by a platform admin or a sales agent for
-- a client, claimed by the client with a single-use token stored as a digest.
CREATE TABLE assisted_accounts (
    user_id               UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    organization_id       UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    client_name           TEXT NOT NULL,
    company_name          TEXT NOT NULL,
    notes                 TEXT,
    created_by_agent_id   UUID NOT NULL,
    created_by_user_id    UUID NOT NULL,
    created_by_agent_role TEXT NOT NULL,
    claim_token_hash      TEXT NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL,
    claimed_at            TIMESTAMPTZ,
    reminder_sent_at      TIMESTAMPTZ,
    expired_at            TIMESTAMPTZ,
    last_activity_at      TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT assisted_claim_token_key UNIQUE (claim_token_hash)
);
CREATE INDEX idx_assisted_agent ON assisted_accounts (created_by_agent_id, created_at DESC);
CREATE INDEX idx_assisted_expiry ON assisted_accounts (expires_at) WHERE claimed_at IS NULL AND expired_at IS NULL;

-- Temporary access to an assisted account (≤ 72 h), always audited.
CREATE TABLE access_grants (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id UUID NOT NULL,
    granted_to      UUID NOT NULL,
    reason          TEXT NOT NULL,
    duration_hours  INT NOT NULL CHECK (duration_hours BETWEEN 1 AND 72),
    jti             TEXT NOT NULL,
    granted_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);

ALTER TABLE assisted_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE assisted_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON assisted_accounts USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));

ALTER TABLE access_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON access_grants USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));
