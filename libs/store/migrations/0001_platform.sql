-- Platform tables every service database has (ARCHITECTURE §5, §6). Versions below 1000 belong
-- to this shared set; a service's own migrations start at 1000.

-- Row-level-security context. Each request's transaction sets these with set_config(..., true)
-- (transaction-local), so a pooled connection never carries one tenant's context into another's.
CREATE OR REPLACE FUNCTION app_current_org() RETURNS uuid
LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('app.current_organization_id', true), '')::uuid
$$;

CREATE OR REPLACE FUNCTION app_principal_type() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('app.principal_type', true), ''), 'anonymous')
$$;

-- The policy predicate of every tenant table: the current tenant's rows; human agents and the
-- service's own background work ('system') act across tenants.
CREATE OR REPLACE FUNCTION app_row_visible(org uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT org = app_current_org() OR app_principal_type() IN ('agent', 'system')
$$;

-- Transactional outbox: written in the same transaction as the state change, published by the
-- relay, which marks rows sent. Not tenant data (the relay reads across tenants), so no RLS.
CREATE TABLE outbox (
    id          BIGSERIAL PRIMARY KEY,
    event_id    UUID NOT NULL UNIQUE,
    topic       TEXT NOT NULL,
    msg_key     TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    payload     JSONB NOT NULL,
    trace_parent TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at     TIMESTAMPTZ,
    attempts    INT NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Wake the relay as soon as a transaction that wrote events commits (NOTIFY is delivered on
-- commit), instead of polling at a short interval.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Idempotent consumers: the event ids a consumer has handled, written in the same transaction as
-- the handler's effect.
CREATE TABLE handled_events (
    consumer    TEXT NOT NULL,
    event_id    UUID NOT NULL,
    topic       TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    outcome     TEXT NOT NULL DEFAULT 'applied' CHECK (outcome IN ('applied', 'dead_lettered')),
    error       TEXT,
    handled_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX handled_events_at ON handled_events (handled_at);
