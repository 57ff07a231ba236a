-- Configuration schema of the agent-permissions plugin (Kong 3.x).
-- See deploy/kong/README.md for the meaning of each field. Field attributes
-- stay within what every Kong 3.x metaschema accepts (no `description`).

local typedefs = require "kong.db.schema.typedefs"

local PLUGIN_NAME = "agent-permissions"

local function validate_permissions_url(value)
  if type(value) ~= "string" then
    return nil, "must be a string"
  end
  if not value:match("^https?://[^/]+") then
    return nil, "must be an http:// or https:// URL"
  end
  local _, placeholders = value:gsub("{agent_id}", "")
  if placeholders ~= 1 then
    return nil, "must contain the placeholder {agent_id} exactly once"
  end
  return true
end

local function validate_permission(value)
  if not value:match("^[%w_%-]+%.[%w_%-]+$") then
    return nil, "must look like 'service.action', e.g. assisted_signup.create"
  end
  return true
end

local function validate_header_name(value)
  if not value:match("^[%w%-]+$") then
    return nil, "must be a valid header name"
  end
  if value:lower():sub(1, 8) == "x-agent-" then
    return nil, "must not be an X-Agent-* header"
  end
  return true
end

return {
  name = PLUGIN_NAME,
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          -- URL of human-agent's permission lookup; {agent_id} is replaced by the token's agent_id.
          { permissions_url = {
              type = "string",
              required = true,
              default = "http://human-agent:8080/api/v1/agents/{agent_id}/permissions",
              custom_validator = validate_permissions_url,
          } },
          -- Bearer token Kong presents to human-agent; use a vault reference.
          { service_token = {
              type = "string",
              required = true,
              referenceable = true,
          } },
          -- Key (at least 32 bytes) of the HMAC-SHA256 signature over the injected headers; use a
          -- vault reference. The services verify with the same key (FLEET_EDGE_KEY_FILE).
          { edge_key = {
              type = "string",
              required = true,
              referenceable = true,
          } },
          -- Optional 'service.action' the agent must hold; non-agent tokens are refused when set.
          { required_permission = {
              type = "string",
              required = false,
              custom_validator = validate_permission,
          } },
          -- Agent roles (primary_role or all_roles of the lookup) that satisfy any required_permission.
          { bypass_roles = {
              type = "array",
              elements = { type = "string" },
              default = { "platform_admin" },
          } },
          -- Seconds a lookup answer (including 'unknown agent') is cached.
          { cache_ttl = {
              type = "number",
              default = 5,
              gt = 0,
          } },
          -- Connect/send/read timeout of the lookup, in milliseconds.
          { timeout_ms = {
              type = "integer",
              default = 2000,
              between = { 1, 60000 },
          } },
          -- Request header set to the rate-limiting subject (org:/agent:/user:); client copies are removed.
          { subject_header = {
              type = "string",
              required = false,
              custom_validator = validate_header_name,
          } },
        },
    } },
  },
}
