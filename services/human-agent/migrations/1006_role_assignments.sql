-- Agents' roles as the specification shows them (spec §0.5 "Register Human Agent"): each held
-- role is an object with its own id, the time it was assigned, whether it is the primary one,
-- and the skills, certifications and languages registered with it. `roles` and `primary_role`
-- stay the record every query filters on; the trigger below keeps `role_assignments` in step
-- with them on every write (the service's, the operator's `fleet admin`, fixtures alike): a role
-- still held keeps its id and time, a new one gets both, details given with the write replace
-- the role's details, a role no longer held is dropped.
--
-- `roles_version` grows by one with every change of the agent's role set or activity; it goes
-- out with `agent_roles_changed`, so that org-auth applies only newer sets.
--
-- `max_active_handoffs` and `availability_hours` are the rest of the spec's `capacity` object
-- (its `max_concurrent_clients` is `max_capacity`).
ALTER TABLE agent_profiles
    ADD COLUMN role_assignments    JSONB NOT NULL DEFAULT '[]',
    ADD COLUMN roles_version       BIGINT NOT NULL DEFAULT 1,
    ADD COLUMN max_active_handoffs INT CHECK (max_active_handoffs > 0),
    ADD COLUMN availability_hours  TEXT;

CREATE FUNCTION agent_role_assignments() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    held JSONB := CASE WHEN TG_OP = 'UPDATE' THEN OLD.role_assignments ELSE '[]'::jsonb END;
BEGIN
    NEW.role_assignments := (
        SELECT coalesce(jsonb_agg(
                   coalesce(h.e, jsonb_build_object(
                       'role_id', gen_random_uuid(),
                       'assigned_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
                   || coalesce(g.e - 'role_id' - 'assigned_at', '{}'::jsonb)
                   || jsonb_build_object('role_type', r.name, 'primary', r.name = NEW.primary_role)
                   ORDER BY r.ord), '[]'::jsonb)
        FROM unnest(NEW.roles) WITH ORDINALITY AS r(name, ord)
        LEFT JOIN LATERAL (SELECT x AS e FROM jsonb_array_elements(held) x
                           WHERE x->>'role_type' = r.name LIMIT 1) h ON true
        LEFT JOIN LATERAL (SELECT x AS e FROM jsonb_array_elements(NEW.role_assignments) x
                           WHERE x->>'role_type' = r.name LIMIT 1) g ON true);
    IF TG_OP = 'UPDATE' AND (NEW.roles IS DISTINCT FROM OLD.roles
                             OR NEW.primary_role IS DISTINCT FROM OLD.primary_role
                             OR NEW.is_active IS DISTINCT FROM OLD.is_active) THEN
        NEW.roles_version := OLD.roles_version + 1;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER agent_role_assignments
    BEFORE INSERT OR UPDATE OF roles, primary_role, is_active, role_assignments ON agent_profiles
    FOR EACH ROW EXECUTE FUNCTION agent_role_assignments();

-- The profiles that exist already get their role objects (profiles are staff data: the
-- migration reads them as the service's own work).
SELECT set_config('app.principal_type', 'system', true);
UPDATE agent_profiles SET role_assignments = role_assignments;
