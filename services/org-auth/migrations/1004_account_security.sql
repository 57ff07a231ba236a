-- Account security: a signup's password waits with its own verification code, and failed
-- sign-ins are counted per address and source.

-- Several codes may be outstanding for one unverified user (each signup mails one). Each keeps
-- the password and profile submitted with it; they become the user's only when that very code
-- is verified, so a second signup for someone else's address cannot set the password its owner
-- will verify. (Rows from before carry none: verifying one keeps the user's own.)
ALTER TABLE email_verifications DROP CONSTRAINT email_verifications_pkey;
ALTER TABLE email_verifications
    ADD COLUMN id              UUID,
    ADD COLUMN password_hash   TEXT,
    ADD COLUMN full_name       TEXT,
    ADD COLUMN role_in_company TEXT;
UPDATE email_verifications SET id = gen_random_uuid() WHERE id IS NULL;
ALTER TABLE email_verifications ALTER COLUMN id SET NOT NULL;
ALTER TABLE email_verifications ADD PRIMARY KEY (id);
CREATE INDEX idx_email_verifications_user ON email_verifications (user_id);

-- Failed sign-ins by address (lower-cased, with or without an account, so that the answers do
-- not tell the two apart) and source (a client address; IPv6 by its /64). The row with source
-- '*' counts the address's failures from every source. A source that gave the right password
-- is remembered (`signed_in_at`). Rows are dropped after `expires_at`.
CREATE TABLE login_failures (
    email          TEXT NOT NULL,
    source         TEXT NOT NULL,
    failures       INT NOT NULL DEFAULT 0,
    last_failed_at TIMESTAMPTZ,
    locked_until   TIMESTAMPTZ,
    signed_in_at   TIMESTAMPTZ,
    expires_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (email, source)
);
CREATE INDEX idx_login_failures_expiry ON login_failures (expires_at);

ALTER TABLE login_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON login_failures USING (app_principal_type() = 'system');
