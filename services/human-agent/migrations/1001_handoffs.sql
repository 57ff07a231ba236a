-- Handoffs between lifecycle roles (Sales → Onboarding → Support + Success). A handoff is
-- decided once; a rejection proposes the next agent in a new handoff linked to the old one.
ALTER TABLE client_assignments DROP CONSTRAINT client_assignments_assignment_type_check;
ALTER TABLE client_assignments ADD CONSTRAINT client_assignments_assignment_type_check
    CHECK (assignment_type IN ('manual', 'auto', 'event', 'handoff'));

CREATE TABLE handoffs (
    id                     UUID PRIMARY KEY,
    organization_id        UUID NOT NULL,
    client_id              UUID NOT NULL,
    from_agent_id          UUID NOT NULL REFERENCES agent_profiles(agent_id),
    from_role              TEXT NOT NULL,
    to_agent_id            UUID NOT NULL REFERENCES agent_profiles(agent_id),
    to_role                TEXT NOT NULL,
    lifecycle_stage_from   TEXT NOT NULL,
    lifecycle_stage_to     TEXT NOT NULL,
    handoff_type           TEXT NOT NULL CHECK (handoff_type IN ('warm', 'standard', 'dual')),
    handoff_reason         TEXT,
    urgency                TEXT NOT NULL DEFAULT 'normal' CHECK (urgency IN ('low', 'normal', 'high', 'urgent')),
    context                JSONB NOT NULL DEFAULT '{}',
    status                 TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    previous_handoff_id    UUID REFERENCES handoffs(id),
    acceptance_deadline    TIMESTAMPTZ NOT NULL,
    first_contact_deadline TIMESTAMPTZ NOT NULL,
    initiated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_at             TIMESTAMPTZ,
    decision_notes         TEXT
);
CREATE INDEX idx_handoffs_client ON handoffs (client_id, initiated_at);
CREATE INDEX idx_handoffs_to_pending ON handoffs (to_agent_id) WHERE status = 'pending';

ALTER TABLE handoffs ENABLE ROW LEVEL SECURITY;
ALTER TABLE handoffs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON handoffs USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));
