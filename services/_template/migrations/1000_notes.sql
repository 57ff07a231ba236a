-- Notes: the reference service's one resource. Tenant data: every row carries its
-- organisation and the policy binds every query of the application role (forced RLS).
CREATE TABLE notes (
    id              UUID PRIMARY KEY,
    organization_id UUID NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT,
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'archived')),
    created_by      UUID,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT notes_title_unique UNIQUE (organization_id, title)
);
CREATE INDEX idx_notes_org_status ON notes (organization_id, status, created_at DESC);

-- The audit trail of every change, written in the change's own transaction.
CREATE TABLE note_audit (
    id              UUID PRIMARY KEY,
    organization_id UUID,
    note_id         UUID,
    action          TEXT NOT NULL,
    actor_id        UUID,
    ip_address      TEXT,
    user_agent      TEXT,
    at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON notes USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));

ALTER TABLE note_audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE note_audit FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON note_audit USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));
