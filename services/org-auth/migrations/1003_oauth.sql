-- OAuth sign-in (Google, Microsoft, GitHub): pending authorisations (state + PKCE verifier,
-- single use, 10 minutes) and the provider identities linked to users.
CREATE TABLE oauth_states (
    state_hash    TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE oauth_identities (
    provider       TEXT NOT NULL,
    subject        TEXT NOT NULL,
    user_id        UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email          TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_login_at  TIMESTAMPTZ,
    PRIMARY KEY (provider, subject)
);

ALTER TABLE oauth_states ENABLE ROW LEVEL SECURITY;
ALTER TABLE oauth_states FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON oauth_states USING (app_principal_type() = 'system');
ALTER TABLE oauth_identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE oauth_identities FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON oauth_identities USING (app_principal_type() = 'system');
