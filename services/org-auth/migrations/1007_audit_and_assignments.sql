-- Audit and operations: the audit log read platform-wide and exported in keyset order, and the
-- assisted accounts each agent is assigned, as human-agent publishes its assignments.

-- The platform-wide reading and the CSV export walk the log newest first by ("timestamp", id);
-- the retention job deletes by "timestamp" (idx_audit_logs_timestamp).
CREATE INDEX idx_audit_logs_time_id ON audit_logs ("timestamp" DESC, id DESC);
CREATE INDEX idx_audit_logs_action_time ON audit_logs (action, "timestamp" DESC);

-- Which agent serves which client in which role (`client_assigned_to_agent` on agent_events);
-- an assignment ends when a handoff of its client from its role is accepted. org-auth never
-- asks human-agent: this is its own record of what human-agent announced.
CREATE TABLE agent_assignments (
    assignment_id   UUID PRIMARY KEY,
    organization_id UUID NOT NULL,
    client_id       UUID NOT NULL,
    agent_id        UUID NOT NULL,
    role_type       TEXT NOT NULL,
    assigned_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at        TIMESTAMPTZ
);
CREATE INDEX idx_agent_assignments_agent ON agent_assignments (agent_id, client_id) WHERE ended_at IS NULL;
CREATE INDEX idx_agent_assignments_client ON agent_assignments (client_id);

-- Handoffs proposed (`handoff_initiated`), kept until accepted: the acceptance names the
-- handoff, this row names the assignment it ends.
CREATE TABLE agent_handoffs (
    handoff_id      UUID PRIMARY KEY,
    organization_id UUID NOT NULL,
    client_id       UUID NOT NULL,
    from_agent_id   UUID NOT NULL,
    from_role       TEXT NOT NULL,
    initiated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE agent_assignments ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_assignments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON agent_assignments USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));

ALTER TABLE agent_handoffs ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_handoffs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON agent_handoffs USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));
