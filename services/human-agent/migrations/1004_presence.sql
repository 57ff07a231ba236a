-- Presence is served from Redis (routing reads it on every assignment); this table stays the
-- record. Each change takes the next value of a sequence, so that writes to Redis racing after
-- their commits can be ordered: Redis keeps a status only if its version is newer.
CREATE SEQUENCE agent_presence_version;
ALTER TABLE agent_profiles ADD COLUMN presence_version BIGINT NOT NULL DEFAULT nextval('agent_presence_version');
