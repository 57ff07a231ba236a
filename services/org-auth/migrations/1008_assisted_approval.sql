-- Platform-admin approval of assisted accounts (spec §0, "Approval Workflows" 6 and 9): an
-- account a sales agent creates waits for a platform admin. Until it is approved its claim link
-- is not mailed, it cannot be claimed and its temporary access is refused; a rejected account is
-- disabled and its temporary access revoked.
ALTER TABLE assisted_accounts
    ADD COLUMN approval_status TEXT NOT NULL DEFAULT 'approved'
        CHECK (approval_status IN ('pending', 'approved', 'rejected')),
    -- The platform admin who decided (its login and agent); null when approved automatically.
    ADD COLUMN approval_decided_by UUID,
    ADD COLUMN approval_decided_by_agent_id UUID,
    ADD COLUMN approval_decided_at TIMESTAMPTZ,
    -- The approver's notes, or the reason of a rejection.
    ADD COLUMN approval_notes TEXT,
    -- A pending account has no decision yet.
    ADD CONSTRAINT assisted_approval_undecided
        CHECK (approval_status <> 'pending' OR approval_decided_at IS NULL);

-- Accounts from before approvals stand approved; every new one states where it stands.
ALTER TABLE assisted_accounts ALTER COLUMN approval_status DROP DEFAULT;

-- The platform admins' queue.
CREATE INDEX idx_assisted_pending_approval ON assisted_accounts (created_at)
    WHERE approval_status = 'pending';
