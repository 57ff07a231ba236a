-- The AI supervision feed: alerts from monitoring and conversation activity from
-- orchestration, kept as events arrive.
CREATE TABLE ai_alerts (
    alert_id           UUID PRIMARY KEY,
    organization_id    UUID NOT NULL,
    severity           TEXT NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    ai_agent_type      TEXT NOT NULL,
    service            TEXT NOT NULL,
    client_id          UUID,
    organization_name  TEXT,
    issue              TEXT NOT NULL,
    recommended_action TEXT,
    detected_at        TIMESTAMPTZ NOT NULL,
    resolved_at        TIMESTAMPTZ
);
CREATE INDEX idx_ai_alerts_detected ON ai_alerts (detected_at DESC);

CREATE TABLE ai_conversations (
    conversation_id UUID PRIMARY KEY,
    organization_id UUID NOT NULL,
    ai_agent_type   TEXT NOT NULL,
    service         TEXT NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    escalated_at    TIMESTAMPTZ
);
CREATE INDEX idx_ai_conversations_started ON ai_conversations (started_at DESC);

-- Supervision data spans tenants and is for staff.
ALTER TABLE ai_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY staff ON ai_alerts USING (app_principal_type() IN ('agent', 'system'));
ALTER TABLE ai_conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY staff ON ai_conversations USING (app_principal_type() IN ('agent', 'system'));
