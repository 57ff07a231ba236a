-- Outbound webhook deliveries (libs/webhooks, ARCHITECTURE §10): written in the same transaction
-- as the change they announce, sent by the service's delivery worker with retries, kept as the
-- delivery log each organisation can read. Tenant data: row-level security on organization_id.
CREATE TABLE webhook_deliveries (
    delivery_id      UUID PRIMARY KEY,
    organization_id  UUID NOT NULL,
    url              TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    -- The exact bytes that are signed and sent (a JSON document).
    body             TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INT NOT NULL DEFAULT 0,
    max_attempts     INT NOT NULL CHECK (max_attempts > 0),
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error       TEXT,
    last_status_code INT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at     TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (organization_id, created_at DESC);

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON webhook_deliveries
    USING (app_row_visible(organization_id)) WITH CHECK (app_row_visible(organization_id));
