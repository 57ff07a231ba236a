-- What the specification's requests send and its answers show (spec §0.5): an assignment's
-- priority, context and expected completion; who decided a handoff and when the receiver
-- expects to be done; a specialist invitation's type, context and collaboration mode.
ALTER TABLE client_assignments
    ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    ADD COLUMN context JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN assignment_reason TEXT,
    ADD COLUMN expected_completion TIMESTAMPTZ;
UPDATE client_assignments SET expected_completion = created_at + interval '7 days' WHERE expected_completion IS NULL;
ALTER TABLE client_assignments ALTER COLUMN expected_completion SET NOT NULL;

ALTER TABLE handoffs
    ADD COLUMN decided_by UUID,
    ADD COLUMN estimated_completion TIMESTAMPTZ;

-- The spec's reasons (`upsell_opportunity`, …) beside the short forms answered so far.
ALTER TABLE specialist_invitations DROP CONSTRAINT specialist_invitations_invitation_reason_check;
ALTER TABLE specialist_invitations ADD CONSTRAINT specialist_invitations_invitation_reason_check
    CHECK (invitation_reason IN ('upsell', 'cross_sell', 'technical_consultation', 'iteration',
                                 'upsell_opportunity', 'cross_sell_opportunity'));
ALTER TABLE specialist_invitations
    -- The role as invited (`sales_specialist_voice`); specialist_role is the role it maps to.
    ADD COLUMN invited_role TEXT,
    -- The role the inviting agent serves the client in.
    ADD COLUMN invited_by_role TEXT,
    ADD COLUMN urgency TEXT CHECK (urgency IN ('low', 'medium', 'high', 'urgent')),
    ADD COLUMN collaboration_mode TEXT NOT NULL DEFAULT 'join_existing'
        CHECK (collaboration_mode IN ('join_existing', 'consult_only'));
UPDATE specialist_invitations SET invited_role = specialist_role WHERE invited_role IS NULL;
ALTER TABLE specialist_invitations ALTER COLUMN invited_role SET NOT NULL;
