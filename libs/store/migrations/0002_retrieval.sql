-- Retrieval (libs/retrieval, ARCHITECTURE §4, §10): every service database holds its own
-- documents' chunks, their vectors and a full-text index, under the platform's tenant policy.
-- Searches scan the tenant's vectors exactly (cosine, in the service) and fuse the result with
-- ts_rank over `tsv` by reciprocal rank fusion.
CREATE TABLE retrieval_chunks (
    organization_id UUID NOT NULL,
    document_id     UUID NOT NULL,
    chunk_index     INT NOT NULL CHECK (chunk_index >= 0),
    source_url      TEXT,
    title           TEXT,
    heading         TEXT,
    -- Byte offsets of `content` in the original document: content = document[start..end).
    start_offset    INT NOT NULL CHECK (start_offset >= 0),
    end_offset      INT NOT NULL CHECK (end_offset >= start_offset),
    content         TEXT NOT NULL,
    metadata        JSONB NOT NULL DEFAULT '{}',
    model           TEXT NOT NULL,
    -- The L2-normalised vector as little-endian f32s (4 bytes × dimensions).
    embedding       BYTEA NOT NULL CHECK (length(embedding) % 4 = 0),
    tsv             TSVECTOR GENERATED ALWAYS AS (
                        to_tsvector('english', coalesce(title, '') || ' ' || coalesce(heading, '') || ' ' || content)
                    ) STORED,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, document_id, chunk_index)
);
CREATE INDEX retrieval_chunks_tsv ON retrieval_chunks USING GIN (tsv);
CREATE INDEX retrieval_chunks_metadata ON retrieval_chunks USING GIN (metadata jsonb_path_ops);

ALTER TABLE retrieval_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE retrieval_chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON retrieval_chunks
    USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));

-- Each organisation's chunk generation: a search caches a tenant's vectors in the service's
-- memory under the generation it read, and reuses them only while the generation is unchanged.
-- Statement-level triggers (not the store's write paths) bump it in the transaction of every
-- insert, update or delete of chunks, so no write — a future code path, a migration's backfill,
-- an operator's fix — can change chunks without invalidating the cached copies. The value comes
-- from a sequence, so it never repeats for an organisation even if its row is removed.
CREATE SEQUENCE retrieval_generation_seq;
CREATE TABLE retrieval_generations (
    organization_id UUID PRIMARY KEY,
    generation      BIGINT NOT NULL
);
ALTER TABLE retrieval_generations ENABLE ROW LEVEL SECURITY;
ALTER TABLE retrieval_generations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON retrieval_generations
    USING (app_row_visible(organization_id))
    WITH CHECK (app_row_visible(organization_id));

-- SECURITY INVOKER (the default): the bump runs under the writer's own RLS context, which the
-- chunk rows it follows have just passed. Organisations are bumped in id order, so two
-- statements spanning several organisations cannot deadlock on their generation rows.
CREATE OR REPLACE FUNCTION retrieval_bump_generations() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  orgs uuid[] := '{}';
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    SELECT orgs || array_agg(organization_id) INTO orgs FROM new_rows;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    SELECT orgs || array_agg(organization_id) INTO orgs FROM old_rows;
  END IF;
  INSERT INTO retrieval_generations (organization_id, generation)
    SELECT o, nextval('retrieval_generation_seq')
    FROM (SELECT DISTINCT o FROM unnest(orgs) AS o WHERE o IS NOT NULL ORDER BY o) AS d
    ON CONFLICT (organization_id) DO UPDATE SET generation = nextval('retrieval_generation_seq');
  RETURN NULL;
END
$$;
-- A trigger with transition tables has a single event, hence three.
CREATE TRIGGER retrieval_chunks_inserted AFTER INSERT ON retrieval_chunks
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION retrieval_bump_generations();
CREATE TRIGGER retrieval_chunks_updated AFTER UPDATE ON retrieval_chunks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION retrieval_bump_generations();
CREATE TRIGGER retrieval_chunks_deleted AFTER DELETE ON retrieval_chunks
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION retrieval_bump_generations();

-- TRUNCATE has no transition table: every organisation's generation moves.
CREATE OR REPLACE FUNCTION retrieval_bump_all_generations() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE retrieval_generations SET generation = nextval('retrieval_generation_seq');
  RETURN NULL;
END
$$;
CREATE TRIGGER retrieval_chunks_truncated AFTER TRUNCATE ON retrieval_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION retrieval_bump_all_generations();
