-- agent-permissions: Kong 3.x plugin that turns a verified platform JWT of a
-- human agent into trusted X-Agent-ID / X-Agent-Permissions headers.
--
-- Runs after the bundled `jwt` plugin (priority 1450) and before
-- `rate-limiting` (910). On every request it
--   1. removes every client-sent X-Agent-* header (and the rate-limit subject
--      header), so only this plugin can set them;
--   2. reads the token the jwt plugin verified (kong.ctx.shared.authenticated_jwt_token);
--      a token that was not verified by the jwt plugin is never looked at;
--   3. sets the rate-limit subject header (org:<organization_id>,
--      agent:<agent_id> or user:<user_id>) when `subject_header` is configured;
--   4. for `user_type == "agent"` looks the agent up at human-agent
--      (`permissions_url`, cached `cache_ttl` seconds) and fails closed:
--      unknown agent -> 403, lookup failure -> 503, inactive agent -> 403,
--      missing `required_permission` -> 403; otherwise injects the headers;
--   5. for any other token, a configured `required_permission` -> 403;
--   6. on every request it lets through, signs what the upstream receives:
--      X-Fleet-Edge-Time and X-Fleet-Edge-Signature = hex HMAC-SHA256 with `edge_key`
--      over helpers.canonical (method, path, SHA-256 of Authorization, X-Agent-ID,
--      X-Agent-Permissions, the upstream X-Forwarded-For, the time) — exactly as
--      libs/auth/src/edge.rs and `fleet gateway` do. Services trust X-Agent-* and
--      X-Forwarded-For only under a valid signature.
--
-- The decisions live in small pure functions (handler.helpers) so that they
-- are unit-tested without Kong; see spec/.

local cjson = require "cjson.safe"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local concat = table.concat
local byte = string.byte
local char = string.char
local floor = math.floor

local AgentPermissionsHandler = {
  PRIORITY = 1000, -- jwt is 1450, rate-limiting 910, request-size-limiting 951
  VERSION = "1.0.0",
}

local CACHE_KEY_PREFIX = "agent-permissions:"
local INTERNAL_SERVICE_HEADER_VALUE = "kong"
-- the most headers kong.request.get_headers() may parse; a request with more is refused,
-- so that no X-Agent-* header can hide beyond the parsed ones
local MAX_HEADERS = 1000

local helpers = {}

---------------------------------------------------------------------------
-- pure helpers
---------------------------------------------------------------------------

--- Parses "service.action" into its two parts.
-- @return service, action  or  nil, err
function helpers.parse_permission(str)
  if type(str) ~= "string" then
    return nil, "permission must be a string"
  end
  local service, action = str:match("^([%w_%-]+)%.([%w_%-]+)$")
  if not service then
    return nil, "permission must look like 'service.action', got '" .. str .. "'"
  end
  return service, action
end

--- True when permissions[service] is a list that contains action.
function helpers.has_permission(permissions, service, action)
  if type(permissions) ~= "table" then
    return false
  end
  local actions = permissions[service]
  if type(actions) ~= "table" then
    return false
  end
  for _, a in ipairs(actions) do
    if a == action then
      return true
    end
  end
  return false
end

--- True when the lookup's primary_role or all_roles names one of `roles`.
function helpers.has_any_role(lookup, roles)
  if type(lookup) ~= "table" or type(roles) ~= "table" then
    return false
  end
  local wanted = {}
  for _, r in ipairs(roles) do
    wanted[r] = true
  end
  if type(lookup.primary_role) == "string" and wanted[lookup.primary_role] then
    return true
  end
  if type(lookup.all_roles) == "table" then
    for _, r in ipairs(lookup.all_roles) do
      if wanted[r] then
        return true
      end
    end
  end
  return false
end

--- Names of the request headers that must be removed before proxying:
-- X-Agent-ID, X-Agent-Permissions and the edge's signature headers always,
-- every other X-Agent-* and X-Fleet-Edge-* header present, and the configured
-- subject header (all case-insensitive).
-- @param headers table as returned by kong.request.get_headers()
-- @param subject_header optional header name
-- @return sorted list of distinct lower-case header names
function helpers.headers_to_strip(headers, subject_header)
  local set = {
    ["x-agent-id"] = true,
    ["x-agent-permissions"] = true,
    ["x-fleet-edge-signature"] = true,
    ["x-fleet-edge-time"] = true,
  }
  if type(subject_header) == "string" then
    set[subject_header:lower()] = true
  end
  if type(headers) == "table" then
    for name in pairs(headers) do
      if type(name) == "string" then
        local lower = name:lower()
        if lower:sub(1, 8) == "x-agent-" or lower:sub(1, 13) == "x-fleet-edge-" then
          set[lower] = true
        end
      end
    end
  end
  local out = {}
  for name in pairs(set) do
    out[#out + 1] = name
  end
  table.sort(out)
  return out
end

--- An agent id that is safe to put into a URL path segment.
function helpers.valid_agent_id(id)
  return type(id) == "string" and #id > 0 and #id <= 128 and id:match("^[%w%-_]+$") ~= nil
end

--- Fills the {agent_id} placeholder of the permissions URL template.
function helpers.permissions_url(template, agent_id)
  if not helpers.valid_agent_id(agent_id) then
    return nil, "invalid agent id"
  end
  local url = template:gsub("{agent_id}", function() return agent_id end)
  return url
end

local B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local B64URL_INDEX = {}
for i = 1, #B64URL do
  B64URL_INDEX[byte(B64URL, i)] = i - 1
end
-- tolerate the standard alphabet too
B64URL_INDEX[byte("+")] = 62
B64URL_INDEX[byte("/")] = 63

--- Decodes base64url (padding optional). Pure Lua so it runs under busted.
function helpers.base64url_decode(s)
  if type(s) ~= "string" then
    return nil, "not a string"
  end
  s = s:gsub("=+$", "")
  if #s % 4 == 1 then
    return nil, "invalid base64url length"
  end
  local out = {}
  local acc, bits = 0, 0
  for i = 1, #s do
    local v = B64URL_INDEX[byte(s, i)]
    if v == nil then
      return nil, "invalid base64url character"
    end
    acc = acc * 64 + v
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      local div = 2 ^ bits
      local octet = floor(acc / div)
      acc = acc - octet * div
      out[#out + 1] = char(octet)
    end
  end
  return concat(out)
end

--- Decodes the payload of a compact JWS. The signature is NOT checked here:
-- only call it with the token the jwt plugin has already verified.
function helpers.decode_jwt_claims(token)
  if type(token) ~= "string" then
    return nil, "no token"
  end
  local payload = token:match("^[^%.]+%.([^%.]+)%.[^%.]*$")
  if not payload then
    return nil, "token is not a compact JWS"
  end
  local json, err = helpers.base64url_decode(payload)
  if not json then
    return nil, err
  end
  local claims = cjson.decode(json)
  if type(claims) ~= "table" or claims[1] ~= nil then
    return nil, "token payload is not a JSON object"
  end
  return claims
end

local function nonempty_string(v)
  return type(v) == "string" and v ~= ""
end

--- The rate-limiting subject of a verified token: the tenant for client users,
-- the agent for human agents, the user otherwise.
function helpers.subject_for(claims)
  if type(claims) ~= "table" then
    return nil
  end
  if claims.user_type ~= "agent" and nonempty_string(claims.organization_id) then
    return "org:" .. claims.organization_id
  end
  if claims.user_type == "agent" and nonempty_string(claims.agent_id) then
    return "agent:" .. claims.agent_id
  end
  if nonempty_string(claims.user_id) then
    return "user:" .. claims.user_id
  end
  return nil
end

--- RFC 9457 problem document (as a Lua table). `title` is the status phrase,
-- so the type is "about:blank" (RFC 9457 section 4.2.1).
function helpers.problem(status, title, detail, correlation_id)
  local body = {
    type = "about:blank",
    title = title,
    status = status,
    detail = detail,
  }
  if nonempty_string(correlation_id) then
    body.correlation_id = correlation_id
  end
  return body
end

--- Interprets the human-agent answer. Returns the value to cache
-- ({found=true,...} or {found=false}) or nil, err for a failure that must
-- not be cached.
function helpers.interpret_lookup(status, body)
  if status == 404 then
    return { found = false }
  end
  if status ~= 200 then
    return nil, "permissions lookup answered HTTP " .. tostring(status)
  end
  local doc = cjson.decode(body or "")
  if type(doc) ~= "table" then
    return nil, "permissions lookup answered a body that is not a JSON object"
  end
  if type(doc.permissions) ~= "table" then
    return nil, "permissions lookup answer has no 'permissions' object"
  end
  return {
    found = true,
    permissions = doc.permissions,
    primary_role = doc.primary_role,
    all_roles = type(doc.all_roles) == "table" and doc.all_roles or nil,
    status = type(doc.status) == "string" and doc.status or nil,
  }
end

--- Compact JSON of the permissions object ({} when empty, never []).
function helpers.encode_permissions(permissions)
  if type(permissions) ~= "table" or next(permissions) == nil then
    return "{}"
  end
  return cjson.encode(permissions)
end

--- Lower-case hex of a binary string.
function helpers.to_hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", byte(c)) end))
end

--- The string the edge signature covers (libs/auth/src/edge.rs `canonical`):
-- one field per line; the Authorization header as its SHA-256 (hex, `-` when
-- absent); absent headers as empty lines. `sha256_hex` computes the digest.
function helpers.canonical(t, sha256_hex)
  local auth = "-"
  if type(t.authorization) == "string" then
    auth = sha256_hex(t.authorization)
  end
  return concat({
    "fleet-edge-v1",
    string.upper(t.method or ""),
    t.path or "",
    auth,
    t.agent_id or "",
    t.permissions or "",
    t.forwarded_for or "",
    tostring(t.time),
  }, "\n")
end

--- The upstream X-Forwarded-For as Kong's runloop makes it: the client's
-- value with the connecting address appended, or that address alone.
function helpers.forwarded_for(client_value, remote_addr)
  if type(client_value) == "string" and client_value ~= "" then
    return client_value .. ", " .. tostring(remote_addr)
  end
  return tostring(remote_addr)
end

AgentPermissionsHandler.helpers = helpers

---------------------------------------------------------------------------
-- Kong glue
---------------------------------------------------------------------------

local function fetch_permissions(url, conf)
  local http = require "resty.http"
  local httpc = http.new()
  httpc:set_timeout(conf.timeout_ms)
  local res, err = httpc:request_uri(url, {
    method = "GET",
    headers = {
      ["Authorization"] = "Bearer " .. tostring(conf.service_token),
      ["X-Internal-Service"] = INTERNAL_SERVICE_HEADER_VALUE,
      ["Accept"] = "application/json",
    },
  })
  if not res then
    return nil, "permissions lookup failed: " .. tostring(err)
  end
  return helpers.interpret_lookup(res.status, res.body)
end

local function sha256_hex(s)
  local digest = require "resty.openssl.digest"
  local d = assert(digest.new("sha256"))
  return helpers.to_hex(assert(d:final(s)))
end

local function hmac_sha256_hex(key, msg)
  local hmac = require "resty.openssl.hmac"
  local h = assert(hmac.new(key, "sha256"))
  return helpers.to_hex(assert(h:final(msg)))
end

-- 6. the signature over what the upstream receives; `agent_id`/`permissions`
-- are the values this plugin injected (nil when none).
local function sign(conf, agent_id, permissions)
  local key = conf.edge_key
  if type(key) ~= "string" or #key < 32 then
    kong.log.err("edge_key is missing or shorter than 32 bytes: injected headers are not signed")
    return
  end
  -- the runloop computes upstream_x_forwarded_for before the plugins run
  local forwarded = ngx.var.upstream_x_forwarded_for
  if type(forwarded) ~= "string" or forwarded == "" then
    forwarded = helpers.forwarded_for(kong.request.get_header("x-forwarded-for"),
                                      ngx.var.realip_remote_addr or ngx.var.remote_addr)
  end
  local now = ngx.time()
  local canonical = helpers.canonical({
    method = kong.request.get_method(),
    path = kong.request.get_path(),
    authorization = kong.request.get_header("authorization"),
    agent_id = agent_id,
    permissions = permissions,
    forwarded_for = forwarded,
    time = now,
  }, sha256_hex)
  local set_header = kong.service.request.set_header
  set_header("X-Fleet-Edge-Time", tostring(now))
  set_header("X-Fleet-Edge-Signature", hmac_sha256_hex(key, canonical))
end

local function deny(status, title, detail)
  local correlation_id = kong.request.get_header("X-Correlation-ID")
  local body = cjson.encode(helpers.problem(status, title, detail, correlation_id))
  return kong.response.exit(status, body, {
    ["Content-Type"] = "application/problem+json",
  })
end

function AgentPermissionsHandler:access(conf)
  -- 1. nothing the client sends may pose as gateway-made
  local headers, headers_err = kong.request.get_headers(MAX_HEADERS)
  if headers_err == "truncated" then
    return deny(431, "Request Header Fields Too Large", "The request has too many header fields.")
  end
  local clear_header = kong.service.request.clear_header
  for _, name in ipairs(helpers.headers_to_strip(headers, conf.subject_header)) do
    clear_header(name)
  end

  local required_service, required_action
  if conf.required_permission then
    required_service, required_action = helpers.parse_permission(conf.required_permission)
    if not required_service then
      kong.log.err("misconfigured required_permission: ", required_action)
      return deny(500, "Internal Server Error", "The gateway cannot check this request.")
    end
  end

  -- 2. only a token verified by the jwt plugin counts
  local token = kong.ctx.shared.authenticated_jwt_token
  if not token then
    if required_service then
      return deny(401, "Unauthorized", "This endpoint needs an authenticated agent.")
    end
    return sign(conf)
  end

  local claims, err = helpers.decode_jwt_claims(token)
  if not claims then
    kong.log.err("cannot read the verified token: ", err)
    return deny(401, "Unauthorized", "The token could not be read.")
  end

  -- 3. rate-limit subject
  if conf.subject_header then
    local subject = helpers.subject_for(claims)
    if subject then
      kong.service.request.set_header(conf.subject_header, subject)
    end
  end

  -- 5. clients (and anything not an agent)
  if claims.user_type ~= "agent" then
    if required_service then
      return deny(403, "Forbidden", "This endpoint is for platform agents only.")
    end
    return sign(conf)
  end

  -- 4. agents
  local agent_id = claims.agent_id
  local url = helpers.permissions_url(conf.permissions_url, agent_id)
  if not url then
    return deny(403, "Forbidden", "The token's agent_id is missing or malformed.")
  end

  local cache_key = CACHE_KEY_PREFIX .. conf.permissions_url .. ":" .. agent_id
  local lookup, lookup_err = kong.cache:get(cache_key, {
    ttl = conf.cache_ttl,
    neg_ttl = conf.cache_ttl,
  }, fetch_permissions, url, conf)

  if lookup_err or type(lookup) ~= "table" then
    kong.log.err("agent permissions unavailable for ", agent_id, ": ", tostring(lookup_err))
    return deny(503, "Service Unavailable", "Agent permissions could not be checked; try again.")
  end

  if not lookup.found then
    return deny(403, "Forbidden", "Unknown agent.")
  end

  if lookup.status and lookup.status ~= "active" then
    return deny(403, "Forbidden", "The agent is " .. lookup.status .. ".")
  end

  if required_service
     and not helpers.has_permission(lookup.permissions, required_service, required_action)
     and not helpers.has_any_role(lookup, conf.bypass_roles)
  then
    return deny(403, "Forbidden", "Missing permission " .. conf.required_permission .. ".")
  end

  local set_header = kong.service.request.set_header
  local encoded = helpers.encode_permissions(lookup.permissions)
  set_header("X-Agent-ID", agent_id)
  set_header("X-Agent-Permissions", encoded)
  return sign(conf, agent_id, encoded)
end

return AgentPermissionsHandler
