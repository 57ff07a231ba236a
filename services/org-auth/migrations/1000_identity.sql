-- org-auth's identity store (spec §0 "Database Schema"), with the columns its endpoints need.
-- Every table has row-level security, forced: tenant tables by organization_id; the
-- credential tables (codes, refresh tokens, reset tokens) are visible to the service's own
-- ('system') transactions only, never to a client- or agent-scoped one.

CREATE TABLE organizations (
    id                UUID PRIMARY KEY,
    name              TEXT NOT NULL CHECK (length(name) BETWEEN 2 AND 100),
    slug              TEXT NOT NULL,
    website           TEXT,
    industry          TEXT,
    company_size      TEXT,
    logo_url          TEXT,
    settings          JSONB NOT NULL DEFAULT '{}',
    branding          JSONB NOT NULL DEFAULT '{}',
    onboarding_status TEXT NOT NULL DEFAULT 'research_queued',
    created_by        UUID,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id                  UUID PRIMARY KEY,
    email               TEXT NOT NULL,
    password_hash       TEXT,            -- NULL until an assisted account is claimed
    full_name           TEXT NOT NULL,
    user_type           TEXT NOT NULL CHECK (user_type IN ('client', 'agent')),
    organization_id     UUID REFERENCES organizations(id),   -- primary organisation; NULL for agents
    role                TEXT NOT NULL DEFAULT 'member',
    role_in_company     TEXT,
    email_verified      BOOLEAN NOT NULL DEFAULT false,
    account_status      TEXT NOT NULL DEFAULT 'active'
        CHECK (account_status IN ('active', 'assisted_unclaimed', 'claimed', 'suspended', 'deleted', 'locked')),
    failed_login_count  INT NOT NULL DEFAULT 0,
    locked_until        TIMESTAMPTZ,
    mfa_enabled         BOOLEAN NOT NULL DEFAULT false,
    agent_id            UUID,            -- human-agent's id for user_type 'agent'
    created_by_agent_id UUID,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_login_at       TIMESTAMPTZ
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX idx_users_organization_id ON users (organization_id);
CREATE INDEX idx_users_user_type ON users (user_type);
CREATE INDEX idx_users_created_by_agent ON users (created_by_agent_id) WHERE created_by_agent_id IS NOT NULL;

CREATE TABLE team_memberships (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    permissions     JSONB NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_active_at  TIMESTAMPTZ,
    CONSTRAINT team_memberships_user_org_key UNIQUE (user_id, organization_id)
);
CREATE INDEX idx_memberships_org ON team_memberships (organization_id);

CREATE TABLE invitations (
    id              UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    permissions     JSONB NOT NULL DEFAULT '{}',
    custom_message  TEXT,
    token_hash      TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'accepted', 'revoked')),
    expires_at      TIMESTAMPTZ NOT NULL,
    created_by      UUID NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    accepted_at     TIMESTAMPTZ,
    accepted_user_id UUID
);
CREATE UNIQUE INDEX invitations_pending_email ON invitations (organization_id, lower(email)) WHERE status = 'sent';

CREATE TABLE email_verifications (
    user_id    UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    attempts   INT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Opaque rotating refresh tokens, stored as SHA-256. A family is one login; presenting a
-- rotated token again revokes the family (token theft detection).
CREATE TABLE refresh_tokens (
    id              UUID PRIMARY KEY,
    family_id       UUID NOT NULL,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id UUID,
    token_hash      TEXT NOT NULL UNIQUE,
    expires_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    rotated_at      TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ,
    revoked_reason  TEXT,
    ip_address      TEXT,
    user_agent      TEXT
);
CREATE INDEX idx_refresh_family ON refresh_tokens (family_id);
CREATE INDEX idx_refresh_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL;

-- Single-use, expiring password tokens: resets, and an agent's first password.
CREATE TABLE password_tokens (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('reset', 'initial')),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE audit_logs (
    id              UUID PRIMARY KEY,
    organization_id UUID,
    user_id         UUID,
    actor_id        UUID,
    action          TEXT NOT NULL,
    resource_type   TEXT,
    resource_id     UUID,
    metadata        JSONB NOT NULL DEFAULT '{}',
    ip_address      TEXT,
    user_agent      TEXT,
    "timestamp"     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_audit_logs_org_time ON audit_logs (organization_id, "timestamp" DESC);
CREATE INDEX idx_audit_logs_user_id ON audit_logs (user_id);
CREATE INDEX idx_audit_logs_timestamp ON audit_logs ("timestamp" DESC);

-- Row-level security.
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON organizations USING (app_row_visible(id)) WITH CHECK (app_row_visible(id));

ALTER TABLE team_memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON team_memberships USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));

-- A user is visible in an organisation's context when it is a member there (or has it as its
-- primary organisation); the service's own work sees all.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON users
    USING (app_row_visible(organization_id)
           OR EXISTS (SELECT 1 FROM team_memberships m
                      WHERE m.user_id = users.id AND m.organization_id = app_current_org()))
    WITH CHECK (app_principal_type() = 'system' OR app_row_visible(organization_id));

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON invitations USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));

ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_logs USING (app_row_visible(organization_id))
    WITH CHECK (app_principal_type() = 'system' OR app_row_visible(organization_id));

ALTER TABLE email_verifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_verifications FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON email_verifications USING (app_principal_type() = 'system');

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON refresh_tokens USING (app_principal_type() = 'system');

ALTER TABLE password_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON password_tokens USING (app_principal_type() = 'system');
