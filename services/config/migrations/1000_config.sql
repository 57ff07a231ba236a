-- Configuration documents in layers, their immutable versions, namespace schemas, feature
-- flags, the change log clients follow, and the audit trail.
--
-- Two kinds of rows share the document tables: the platform's layers (default, tier) carry no
-- organisation and are readable by every caller but written only by agents (platform admins,
-- checked by the service) and the service itself; an organisation's layers (tenant,
-- environment) are tenant data under the usual policy.
CREATE OR REPLACE FUNCTION config_row_readable(org uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT org IS NULL OR app_row_visible(org)
$$;

CREATE OR REPLACE FUNCTION config_row_writable(org uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN org IS NULL THEN app_principal_type() IN ('agent', 'system')
              ELSE app_row_visible(org) END
$$;

-- One JSON Schema per namespace: platform data.
CREATE TABLE schemas (
    namespace   TEXT PRIMARY KEY,
    schema      JSONB NOT NULL,
    revision    INT NOT NULL DEFAULT 1,
    updated_by  UUID,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    id              UUID PRIMARY KEY,
    namespace       TEXT NOT NULL REFERENCES schemas (namespace),
    key             TEXT NOT NULL,
    layer           TEXT NOT NULL CHECK (layer IN ('default', 'tier', 'tenant', 'environment')),
    scope           TEXT NOT NULL DEFAULT '',
    organization_id UUID,
    current_version INT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT documents_platform_layers CHECK ((layer IN ('default', 'tier')) = (organization_id IS NULL)),
    CONSTRAINT documents_scoped_layers CHECK ((layer IN ('tier', 'environment')) = (scope <> '')),
    CONSTRAINT documents_slot UNIQUE NULLS NOT DISTINCT (namespace, key, layer, scope, organization_id)
);
CREATE INDEX documents_by_key ON documents (namespace, key);

-- Immutable: a change is a new version; a rollback is a new version equal to an old one.
CREATE TABLE document_versions (
    id              UUID PRIMARY KEY,
    document_id     UUID NOT NULL REFERENCES documents (id),
    organization_id UUID,
    version         INT NOT NULL,
    value           JSONB NOT NULL,
    format          TEXT NOT NULL CHECK (format IN ('yaml', 'json')),
    message         TEXT,
    restored_from   UUID REFERENCES document_versions (id),
    author_id       UUID,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT document_versions_number UNIQUE (document_id, version)
);

CREATE OR REPLACE FUNCTION config_versions_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'document versions are immutable' USING ERRCODE = 'check_violation',
    CONSTRAINT = 'document_versions_immutable';
END
$$;
CREATE TRIGGER document_versions_immutable BEFORE UPDATE OR DELETE ON document_versions
  FOR EACH ROW EXECUTE FUNCTION config_versions_immutable();

-- Feature flags: platform data (their rules may name organisations, so only agents read them;
-- clients evaluate).
CREATE TABLE flags (
    key         TEXT PRIMARY KEY,
    definition  JSONB NOT NULL,
    version     INT NOT NULL DEFAULT 1,
    updated_by  UUID,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every change in commit order, for the Watch stream: `payload` is the config client's Update.
CREATE TABLE changes (
    revision        BIGSERIAL PRIMARY KEY,
    organization_id UUID,
    namespace       TEXT,
    payload         JSONB NOT NULL,
    at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION config_changes_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('config_changes', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER config_changes_notify AFTER INSERT ON changes
  FOR EACH STATEMENT EXECUTE FUNCTION config_changes_notify();

CREATE TABLE config_audit (
    id              UUID PRIMARY KEY,
    organization_id UUID,
    action          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    version         INT,
    actor_id        UUID,
    ip_address      TEXT,
    user_agent      TEXT,
    at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Platform tables: everyone reads (flags: agents and the service only), agents and the
-- service write.
ALTER TABLE schemas ENABLE ROW LEVEL SECURITY;
ALTER TABLE schemas FORCE ROW LEVEL SECURITY;
CREATE POLICY read ON schemas FOR SELECT USING (true);
CREATE POLICY write ON schemas FOR ALL USING (config_row_writable(NULL))
    WITH CHECK (config_row_writable(NULL));

ALTER TABLE flags ENABLE ROW LEVEL SECURITY;
ALTER TABLE flags FORCE ROW LEVEL SECURITY;
CREATE POLICY staff ON flags USING (app_principal_type() IN ('agent', 'system'))
    WITH CHECK (app_principal_type() IN ('agent', 'system'));

-- Mixed tables: platform rows readable by all, tenant rows by their tenant; each row
-- writable by whoever may write its layer.
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY read ON documents FOR SELECT USING (config_row_readable(organization_id));
CREATE POLICY write ON documents FOR INSERT WITH CHECK (config_row_writable(organization_id));
CREATE POLICY change ON documents FOR UPDATE USING (config_row_writable(organization_id))
    WITH CHECK (config_row_writable(organization_id));

ALTER TABLE document_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY read ON document_versions FOR SELECT USING (config_row_readable(organization_id));
CREATE POLICY write ON document_versions FOR INSERT WITH CHECK (config_row_writable(organization_id));

-- The change log is read by the service's stream only (system scope); writers append.
ALTER TABLE changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE changes FORCE ROW LEVEL SECURITY;
CREATE POLICY read ON changes FOR SELECT USING (app_principal_type() = 'system');
CREATE POLICY write ON changes FOR INSERT WITH CHECK (config_row_writable(organization_id));

ALTER TABLE config_audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE config_audit FORCE ROW LEVEL SECURITY;
CREATE POLICY read ON config_audit FOR SELECT USING (config_row_readable(organization_id));
CREATE POLICY write ON config_audit FOR INSERT WITH CHECK (config_row_writable(organization_id));
