-- Specialist invitations (upsell, cross-sell, technical consultation, iteration): a specialist
-- joins a client alongside its current agent and leaves with an outcome.
ALTER TABLE client_assignments DROP CONSTRAINT client_assignments_assignment_type_check;
ALTER TABLE client_assignments ADD CONSTRAINT client_assignments_assignment_type_check
    CHECK (assignment_type IN ('manual', 'auto', 'event', 'handoff', 'specialist'));
-- A specialist works beside the client's agent: one active assignment per client, role and agent.
DROP INDEX client_assignments_active_role;
CREATE UNIQUE INDEX client_assignments_active_role ON client_assignments (client_id, role_type, agent_id) WHERE status = 'active';

CREATE TABLE specialist_invitations (
    id                  UUID PRIMARY KEY,
    organization_id     UUID NOT NULL,
    client_id           UUID NOT NULL,
    invited_by_agent_id UUID NOT NULL REFERENCES agent_profiles(agent_id),
    specialist_agent_id UUID NOT NULL REFERENCES agent_profiles(agent_id),
    specialist_role     TEXT NOT NULL,
    invitation_reason   TEXT NOT NULL CHECK (invitation_reason IN ('upsell', 'cross_sell', 'technical_consultation', 'iteration')),
    opportunity_type    TEXT,
    estimated_value     NUMERIC(14, 2),
    background          TEXT,
    status              TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected', 'completed')),
    assignment_id       UUID,
    invited_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_at          TIMESTAMPTZ,
    completed_at        TIMESTAMPTZ,
    outcome             JSONB
);
CREATE INDEX idx_specialist_client_active ON specialist_invitations (client_id) WHERE status IN ('pending', 'accepted');

ALTER TABLE specialist_invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE specialist_invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON specialist_invitations USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));
