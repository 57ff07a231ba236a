-- Human agents (spec §0.5): profiles with several roles, skills, languages, capacity and
-- presence; their client assignments; the activity log of every agent action.
CREATE TABLE agent_profiles (
    agent_id        UUID PRIMARY KEY,
    user_id         UUID NOT NULL UNIQUE,      -- org-auth's user (user_type agent)
    email           TEXT NOT NULL,
    full_name       TEXT NOT NULL,
    primary_role    TEXT NOT NULL,
    roles           TEXT[] NOT NULL,
    skills          TEXT[] NOT NULL DEFAULT '{}',
    certifications  TEXT[] NOT NULL DEFAULT '{}',
    languages       TEXT[] NOT NULL DEFAULT '{en}',
    permissions     JSONB NOT NULL DEFAULT '{}',
    max_capacity    INT NOT NULL CHECK (max_capacity > 0),
    status          TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'busy', 'away', 'offline')),
    status_message  TEXT,
    available_at    TIMESTAMPTZ,
    auto_assign     BOOLEAN NOT NULL DEFAULT true,
    is_active       BOOLEAN NOT NULL DEFAULT true,
    created_by      UUID,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX agent_profiles_email_key ON agent_profiles (lower(email));
CREATE INDEX idx_agents_roles ON agent_profiles USING gin (roles);

-- A client (an organisation's user) assigned to an agent in one role. One active assignment
-- per client and role.
CREATE TABLE client_assignments (
    id                    UUID PRIMARY KEY,
    organization_id       UUID NOT NULL,
    client_id             UUID NOT NULL,
    agent_id              UUID NOT NULL REFERENCES agent_profiles(agent_id),
    role_type             TEXT NOT NULL,
    lifecycle_stage       TEXT NOT NULL,
    assignment_type       TEXT NOT NULL CHECK (assignment_type IN ('manual', 'auto', 'event')),
    status                TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'transferred', 'completed')),
    source_event_id       UUID,
    first_response_due_at TIMESTAMPTZ NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at              TIMESTAMPTZ
);
CREATE UNIQUE INDEX client_assignments_active_role ON client_assignments (client_id, role_type) WHERE status = 'active';
CREATE INDEX idx_assignments_agent_active ON client_assignments (agent_id) WHERE status = 'active';
CREATE INDEX idx_assignments_agent_recent ON client_assignments (agent_id, created_at DESC);

CREATE TABLE agent_activity_logs (
    id              UUID PRIMARY KEY,
    agent_id        UUID NOT NULL,
    actor_id        UUID,
    action          TEXT NOT NULL,
    organization_id UUID,
    details         JSONB NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_activity_agent ON agent_activity_logs (agent_id, created_at DESC);

-- Agent profiles and their logs are platform staff data: agents and the service's own work
-- only, never a client. Assignments are tenant data: a client sees its own organisation's.
ALTER TABLE agent_profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_profiles FORCE ROW LEVEL SECURITY;
CREATE POLICY staff ON agent_profiles USING (app_principal_type() IN ('agent', 'system'));

ALTER TABLE agent_activity_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_activity_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY staff ON agent_activity_logs USING (app_principal_type() IN ('agent', 'system'));

ALTER TABLE client_assignments ENABLE ROW LEVEL SECURITY;
ALTER TABLE client_assignments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON client_assignments USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));
