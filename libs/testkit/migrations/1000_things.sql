CREATE TABLE things (
    id UUID PRIMARY KEY,
    organization_id UUID NOT NULL,
    name TEXT NOT NULL,
    quantity INT NOT NULL CHECK (quantity > 0),
    CONSTRAINT things_name_unique UNIQUE (organization_id, name)
);
ALTER TABLE things ENABLE ROW LEVEL SECURITY;
ALTER TABLE things FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON things USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));
