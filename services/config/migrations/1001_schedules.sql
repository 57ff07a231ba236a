-- Scheduled changes: a write of one layer that takes effect at a future time. The value is
-- checked against the namespace's schema when scheduled and again when applied, and written
-- only over the version of the layer it was scheduled over; a periodic job
-- claims due rows (FOR UPDATE SKIP LOCKED, so two replicas never apply one twice) and applies
-- each as a new version through the same path as a write.
CREATE TABLE schedules (
    id              UUID PRIMARY KEY,
    namespace       TEXT NOT NULL REFERENCES schemas (namespace),
    key             TEXT NOT NULL,
    layer           TEXT NOT NULL CHECK (layer IN ('default', 'tier', 'tenant', 'environment')),
    scope           TEXT NOT NULL DEFAULT '',
    organization_id UUID,
    value           JSONB NOT NULL,
    format          TEXT NOT NULL CHECK (format IN ('yaml', 'json')),
    message         TEXT,
    apply_at        TIMESTAMPTZ NOT NULL,
    -- The layer's version the change is written over (0: none yet): when due, a layer at
    -- another version is a conflict and nothing is written.
    base_version    INT NOT NULL CHECK (base_version >= 0),
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'applied', 'cancelled', 'failed')),
    -- Why a schedule failed (the schema check's answer at the time it was due).
    reason          TEXT,
    -- The version an applied schedule wrote.
    version_id      UUID REFERENCES document_versions (id),
    created_by      UUID NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    cancelled_by    UUID,
    -- When it was applied, cancelled or failed.
    settled_at      TIMESTAMPTZ,
    CONSTRAINT schedules_platform_layers CHECK ((layer IN ('default', 'tier')) = (organization_id IS NULL)),
    CONSTRAINT schedules_scoped_layers CHECK ((layer IN ('tier', 'environment')) = (scope <> '')),
    CONSTRAINT schedules_settled CHECK ((status = 'pending') = (settled_at IS NULL)),
    CONSTRAINT schedules_applied CHECK ((status = 'applied') = (version_id IS NOT NULL))
);
CREATE INDEX schedules_due ON schedules (apply_at) WHERE status = 'pending';
CREATE INDEX schedules_by_key ON schedules (namespace, key, apply_at);

-- As the documents: the platform's layers' schedules readable by all and written by agents
-- (platform admins, checked by the service) and the service; an organisation's by its tenant.
ALTER TABLE schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE schedules FORCE ROW LEVEL SECURITY;
CREATE POLICY read ON schedules FOR SELECT USING (config_row_readable(organization_id));
CREATE POLICY write ON schedules FOR INSERT WITH CHECK (config_row_writable(organization_id));
CREATE POLICY change ON schedules FOR UPDATE USING (config_row_writable(organization_id))
    WITH CHECK (config_row_writable(organization_id));
