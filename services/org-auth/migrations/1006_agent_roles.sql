-- Agents' role sets, as human-agent publishes them (`agent_roles_changed` on agent_events):
-- what an agent's tokens carry as `role`, `primary_role` and `all_roles`. Keyed by the agent,
-- as the events are; `version` is the agent's own counter in human-agent, so an event that is
-- repeated or arrives late (not newer than the row) changes nothing. A deactivated agent's set
-- is empty. An agent without a row here has the role its login was created with.
CREATE TABLE agent_roles (
    agent_id     UUID PRIMARY KEY,
    primary_role TEXT NOT NULL,
    roles        TEXT[] NOT NULL,
    is_active    BOOLEAN NOT NULL,
    version      BIGINT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Read when tokens are issued and written by the consumer, both the service's own work.
ALTER TABLE agent_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_roles FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON agent_roles USING (app_principal_type() = 'system');
