-- Retrieval search (libs/retrieval): the tenant policy of `retrieval_chunks`, evaluated once per
-- statement instead of once per row.
--
-- The policy of 0002 calls app_row_visible(organization_id), which PostgreSQL inlines into every
-- row's check: each candidate row of a search read both settings again and parsed the
-- organisation's UUID. A full-text search ranks every chunk of the tenant that has one of the
-- query's words — for a broad query most of the tenant's chunks — so that per-row work was
-- about half of the statement's time. The predicate below is app_row_visible's, unchanged in
-- meaning (the tenant's own rows; human agents and the service's own background work across
-- tenants), with its two per-statement parts as uncorrelated sub-selects: PostgreSQL computes
-- each once per statement (an InitPlan) and compares every row with the result, and the
-- organisation comparison can be matched to the primary key's index.
DROP POLICY tenant ON retrieval_chunks;
CREATE POLICY tenant ON retrieval_chunks
    USING (
        organization_id = (SELECT app_current_org())
        OR (SELECT app_principal_type()) IN ('agent', 'system')
    )
    WITH CHECK (
        organization_id = (SELECT app_current_org())
        OR (SELECT app_principal_type()) IN ('agent', 'system')
    );
