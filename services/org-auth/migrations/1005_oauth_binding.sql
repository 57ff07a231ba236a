-- Sign-in hardening: an OAuth sign-in is bound to the browser that started it, the second
-- sign-in step can be an MFA enrolment (an organisation that requires MFA), and an assisted
-- account's claim token is kept sealed so its claim link can be shown again to its agents.

-- The digest of the nonce the starting browser holds in an HttpOnly cookie; the callback
-- must present it. Pending sign-ins from before this migration cannot be finished.
ALTER TABLE oauth_states ADD COLUMN binding_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_states ALTER COLUMN binding_hash DROP DEFAULT;

-- 'verify': the user has MFA on and proves a code; 'enrol': the user must set MFA up first.
ALTER TABLE mfa_challenges ADD COLUMN purpose TEXT NOT NULL DEFAULT 'verify'
    CHECK (purpose IN ('verify', 'enrol'));

-- The claim token sealed with AES-256-GCM (ORG_AUTH_MFA_KEY), bound to the account's user id;
-- lookups still go by claim_token_hash. NULL for accounts created before this migration.
ALTER TABLE assisted_accounts ADD COLUMN claim_token_sealed TEXT;
