-- End-to-end tests of the access phase against a stubbed Kong PDK
-- (kong.request, kong.service.request, kong.response, kong.cache, kong.ctx,
-- kong.log) and a stubbed resty.http.

-- Preamble (same in every spec of this plugin).
local src = debug.getinfo(1, "S").source:sub(2)
local PLUGIN_DIR = src:match("^(.*)/spec/[^/]+$") or (src:match("^spec/") and ".")
assert(PLUGIN_DIR, "cannot locate the plugin directory from " .. src)
-- deploy/?.lua resolves Kong's module names (kong.plugins.agent-permissions.*)
package.path = PLUGIN_DIR .. "/../../../?.lua;" .. package.path
local dkjson = require "dkjson"
local JSON_NULL = setmetatable({}, { __tostring = function() return "null" end })
local cjson_shim = {
  null = JSON_NULL,
  decode = function(s)
    if type(s) ~= "string" then return nil, "not a string" end
    local v, _, err = dkjson.decode(s, 1, JSON_NULL)
    if err then return nil, err end
    return v
  end,
  encode = function(v) return dkjson.encode(v) end,
}

local function b64url(s)
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    for j = 1, 2 + (b and 1 or 0) + (c and 1 or 0) do
      local idx = math.floor(n / 2 ^ (18 - 6 * (j - 1))) % 64
      out[#out + 1] = alphabet:sub(idx + 1, idx + 1)
    end
  end
  return table.concat(out)
end

local function jwt(claims)
  return b64url('{"alg":"RS256","typ":"JWT","kid":"fleet-signing-key-1"}') .. "." ..
         b64url(dkjson.encode(claims)) .. ".c2lnbmF0dXJlLWNoZWNrZWQtYnktdGhlLWp3dC1wbHVnaW4"
end


-- resty.openssl's digest and hmac, computed by the openssl command line: an implementation
-- independent of both edges, so the signature vector below checks them against each other.
local function openssl(args, msg)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(msg)
  f:close()
  local p = assert(io.popen("openssl dgst -sha256 -binary " .. args .. " " .. path, "r"))
  local out = p:read("*a")
  p:close()
  os.remove(path)
  assert(#out == 32, "openssl dgst failed")
  return out
end
local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
local openssl_stubs = {
  ["resty.openssl.digest"] = {
    new = function(alg)
      assert(alg == "sha256")
      return { final = function(_, s) return openssl("", s) end }
    end,
  },
  ["resty.openssl.hmac"] = {
    new = function(key, alg)
      assert(alg == "sha256")
      return { final = function(_, s) return openssl("-mac HMAC -macopt hexkey:" .. hex(key), s) end }
    end,
  },
}

-- The vector libs/auth/src/edge.rs checks the Rust edges against.
local VECTOR = {
  key = "fleet-edge-test-key-0123456789abcdef",
  agent_id = "7f1c9c4e-4a57-4d43-9f55-3f2f4b1b2a10",
  signature = "cc52f67308d0a4dd36b9458b14f38d478beae7557b27e9fe78f8a5e5f0527f9e",
}

local AGENT_ID = "7b0e5c1a-3f4d-4c2b-9a8e-1f2d3c4b5a69"
local PERMISSIONS_URL = "http://human-agent:8080/api/v1/agents/{agent_id}/permissions"

local AGENT_CLAIMS = {
  user_id = "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a",
  user_type = "agent",
  agent_id = AGENT_ID,
  primary_role = "sales_agent",
  organization_id = JSON_NULL,
  exp = 1728392400,
}

local CLIENT_CLAIMS = {
  user_id = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
  user_type = "client",
  organization_id = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
  role = "admin",
  exp = 1728392400,
}

local function lookup_body(permissions, extra)
  local doc = {
    agent_id = AGENT_ID,
    user_id = AGENT_CLAIMS.user_id,
    primary_role = "sales_agent",
    all_roles = { "sales_agent", "onboarding_specialist" },
    permissions = permissions,
    status = "active",
    availability = "online",
  }
  for k, v in pairs(extra or {}) do doc[k] = v end
  return dkjson.encode(doc)
end

describe("agent-permissions access phase", function()
  local handler
  local rec            -- what the plugin did through the PDK
  local http_calls     -- requests made through resty.http
  local http_answer    -- function(url, params) -> res, err
  local cache_store

  local function conf(overrides)
    local c = {
      permissions_url = PERMISSIONS_URL,
      service_token = "internal-token-abc",
      required_permission = nil,
      bypass_roles = { "platform_admin" },
      cache_ttl = 5,
      timeout_ms = 1500,
      subject_header = "X-Fleet-Subject",
      edge_key = VECTOR.key,
    }
    for k, v in pairs(overrides or {}) do c[k] = v end
    return c
  end

  -- Builds the `kong` global for one request.
  local function request(opts)
    opts = opts or {}
    local headers = {}
    for k, v in pairs(opts.headers or {}) do headers[k:lower()] = v end
    rec = { cleared = {}, upstream = {}, exit = nil, logs = {}, cache_gets = {} }
    for k, v in pairs(headers) do rec.upstream[k] = v end

    local function log(level)
      return function(...)
        local parts = {}
        for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
        rec.logs[#rec.logs + 1] = { level = level, msg = table.concat(parts) }
      end
    end

    _G.ngx = {
      var = {
        upstream_x_forwarded_for = opts.forwarded_for or "198.51.100.4",
        remote_addr = "198.51.100.4",
      },
      time = function() return opts.time or 1767225600 end,
    }
    _G.kong = {
      request = {
        get_method = function() return opts.method or "GET" end,
        get_path = function() return opts.path or "/api/v1/things" end,
        get_headers = function(max)
          rec.get_headers_max = max
          if opts.headers_truncated then
            return {}, "truncated"
          end
          local copy = {}
          for k, v in pairs(headers) do copy[k] = v end
          return copy
        end,
        get_header = function(name) return headers[name:lower()] end,
      },
      service = {
        request = {
          clear_header = function(name)
            rec.cleared[#rec.cleared + 1] = name:lower()
            rec.upstream[name:lower()] = nil
          end,
          set_header = function(name, value)
            rec.upstream[name:lower()] = value
          end,
        },
      },
      response = {
        exit = function(status, body, hdrs)
          assert.is_nil(rec.exit, "kong.response.exit called twice")
          rec.exit = { status = status, body = body, headers = hdrs or {} }
        end,
      },
      ctx = { shared = { authenticated_jwt_token = opts.token }, plugin = {} },
      cache = {
        -- mlcache semantics: a cached value is returned without calling the
        -- callback; a callback error or (nil, err) is returned and not cached.
        get = function(self, key, cache_opts, cb, ...)
          rec.cache_gets[#rec.cache_gets + 1] = { key = key, opts = cache_opts }
          if cache_store[key] ~= nil then
            return cache_store[key]
          end
          local ok, value, err = pcall(cb, ...)
          if not ok then return nil, value end
          if err then return nil, err end
          cache_store[key] = value
          return value
        end,
      },
      log = { err = log("err"), warn = log("warn"), notice = log("notice"),
              info = log("info"), debug = log("debug") },
    }
    return rec
  end

  local function run(c, opts)
    request(opts)
    handler:access(c)
    return rec
  end

  local function problem()
    assert.is_table(rec.exit, "expected the request to be answered by the gateway")
    assert.equal("application/problem+json", rec.exit.headers["Content-Type"])
    local body = cjson_shim.decode(rec.exit.body)
    assert.is_table(body)
    assert.equal(rec.exit.status, body.status)
    assert.is_string(body.type)
    assert.is_string(body.title)
    assert.is_string(body.detail)
    return body
  end

  local function answer(status, body)
    http_answer = function() return { status = status, body = body, headers = {} } end
  end

  before_each(function()
    package.loaded["cjson.safe"] = cjson_shim
    for name, stub in pairs(openssl_stubs) do package.loaded[name] = stub end
    http_calls = {}
    cache_store = {}
    http_answer = function() error("no HTTP answer scripted") end
    package.loaded["resty.http"] = {
      new = function()
        local client = {}
        function client:set_timeout(ms) self.timeout = ms end
        function client:request_uri(url, params)
          http_calls[#http_calls + 1] = { url = url, params = params, timeout = self.timeout }
          return http_answer(url, params)
        end
        return client
      end,
    }
    package.loaded["kong.plugins.agent-permissions.handler"] = nil -- fresh, with this test's stubs
    handler = require "kong.plugins.agent-permissions.handler"
  end)

  after_each(function()
    _G.kong = nil
    _G.ngx = nil
    for name in pairs(openssl_stubs) do package.loaded[name] = nil end
    package.loaded["resty.http"] = nil
    package.loaded["cjson.safe"] = nil
    package.loaded["kong.plugins.agent-permissions.handler"] = nil
  end)

  describe("without a verified token (public route)", function()
    it("strips every client-sent X-Agent-* header and the subject header, and proxies", function()
      run(conf(), { headers = {
        ["X-Agent-ID"] = "forged",
        ["X-Agent-Permissions"] = '{"assisted_signup":["create"]}',
        ["x-agent-roles"] = "platform_admin",
        ["X-Fleet-Subject"] = "org:victim",
        ["Content-Type"] = "application/json",
      } })
      assert.is_nil(rec.exit)
      assert.same({ "x-agent-id", "x-agent-permissions", "x-agent-roles", "x-fleet-edge-signature",
                    "x-fleet-edge-time", "x-fleet-subject" },
                  (function() table.sort(rec.cleared); return rec.cleared end)())
      assert.is_nil(rec.upstream["x-agent-id"])
      assert.is_nil(rec.upstream["x-agent-permissions"])
      assert.is_nil(rec.upstream["x-fleet-subject"])
      assert.equal("application/json", rec.upstream["content-type"])
      assert.equal(0, #http_calls)
    end)

    it("clears X-Agent-ID and X-Agent-Permissions even when get_headers did not report them", function()
      run(conf(), { headers = {} })
      assert.is_nil(rec.exit)
      table.sort(rec.cleared)
      assert.same({ "x-agent-id", "x-agent-permissions", "x-fleet-edge-signature",
                    "x-fleet-edge-time", "x-fleet-subject" }, rec.cleared)
      assert.equal(1000, rec.get_headers_max)
    end)

    it("refuses with 431 a request with more header fields than can be inspected", function()
      run(conf(), { headers_truncated = true, token = jwt(AGENT_CLAIMS) })
      assert.equal(431, rec.exit.status)
      problem()
      assert.equal(0, #http_calls)
    end)

    it("never trusts an Authorization header the jwt plugin did not verify", function()
      run(conf(), { headers = { Authorization = "Bearer " .. jwt(AGENT_CLAIMS) } })
      assert.is_nil(rec.exit)
      assert.is_nil(rec.upstream["x-agent-id"])
      assert.is_nil(rec.upstream["x-fleet-subject"])
      assert.equal(0, #http_calls)
    end)

    it("answers 401 when the route demands a permission but nothing was authenticated", function()
      run(conf({ required_permission = "assisted_signup.create" }), {})
      assert.equal(401, rec.exit.status)
      assert.equal(401, problem().status)
      assert.equal(0, #http_calls)
    end)
  end)

  describe("with a client token", function()
    it("sets the tenant as rate-limit subject, looks nothing up and injects no agent headers", function()
      run(conf(), { token = jwt(CLIENT_CLAIMS), headers = { ["X-Agent-ID"] = AGENT_ID } })
      assert.is_nil(rec.exit)
      assert.equal("org:" .. CLIENT_CLAIMS.organization_id, rec.upstream["x-fleet-subject"])
      assert.is_nil(rec.upstream["x-agent-id"])
      assert.is_nil(rec.upstream["x-agent-permissions"])
      assert.equal(0, #http_calls)
    end)

    it("is refused with 403 on a route that requires an agent permission", function()
      run(conf({ required_permission = "assisted_signup.create" }), { token = jwt(CLIENT_CLAIMS) })
      assert.equal(403, rec.exit.status)
      local body = problem()
      assert.equal("Forbidden", body.title)
      assert.equal(0, #http_calls)
    end)

    it("does not set a subject header when none is configured", function()
      local c = conf()
      c.subject_header = nil
      run(c, { token = jwt(CLIENT_CLAIMS) })
      assert.is_nil(rec.exit)
      assert.is_nil(rec.upstream["x-fleet-subject"])
    end)
  end)

  describe("the edge signature", function()
    it("signs the injected headers exactly as libs/auth/src/edge.rs does (shared vector)", function()
      answer(200, lookup_body({ assisted_signup = { "create", "read" } }))
      local claims = {}
      for k, v in pairs(AGENT_CLAIMS) do claims[k] = v end
      claims.agent_id = VECTOR.agent_id
      run(conf(), {
        token = jwt(claims),
        path = "/api/v1/agents/available",
        forwarded_for = "203.0.113.9, 10.0.0.7",
        headers = { Authorization = "Bearer abc.def.ghi",
                    ["X-Fleet-Edge-Signature"] = "forged-by-the-client" },
      })
      assert.is_nil(rec.exit)
      assert.equal('{"assisted_signup":["create","read"]}', rec.upstream["x-agent-permissions"])
      assert.equal("1767225600", rec.upstream["x-fleet-edge-time"])
      assert.equal(VECTOR.signature, rec.upstream["x-fleet-edge-signature"])
    end)

    it("signs requests without a token too, binding the forwarded address", function()
      run(conf(), { forwarded_for = "192.0.2.8" })
      local a = rec.upstream["x-fleet-edge-signature"]
      assert.is_string(a)
      assert.equal(64, #a)
      run(conf(), { forwarded_for = "192.0.2.9" })
      assert.not_equal(a, rec.upstream["x-fleet-edge-signature"])
    end)

    it("leaves the request unsigned (the services then trust nothing) without a usable key", function()
      run(conf({ edge_key = "short" }), { headers = { ["X-Fleet-Edge-Signature"] = "forged" } })
      assert.is_nil(rec.exit)
      assert.is_nil(rec.upstream["x-fleet-edge-signature"])
      assert.is_nil(rec.upstream["x-fleet-edge-time"])
      assert.truthy(rec.logs[1] and rec.logs[1].msg:find("edge_key"))
    end)
  end)

  describe("with an agent token", function()
    it("looks the agent up with the service token and injects X-Agent-ID and X-Agent-Permissions", function()
      answer(200, lookup_body({ assisted_signup = { "create", "read", "update" },
                                research_engine = { "read", "trigger" } }))
      run(conf(), { token = jwt(AGENT_CLAIMS), headers = {
        ["X-Agent-ID"] = "someone-else",
        ["X-Agent-Permissions"] = '{"everything":["*"]}',
      } })

      assert.is_nil(rec.exit)
      assert.equal(1, #http_calls)
      local call = http_calls[1]
      assert.equal("http://human-agent:8080/api/v1/agents/" .. AGENT_ID .. "/permissions", call.url)
      assert.equal("GET", call.params.method)
      assert.equal("Bearer internal-token-abc", call.params.headers["Authorization"])
      assert.equal("kong", call.params.headers["X-Internal-Service"])
      assert.equal(1500, call.timeout)

      assert.equal(AGENT_ID, rec.upstream["x-agent-id"])
      local injected = rec.upstream["x-agent-permissions"]
      assert.is_nil(injected:find("%s"), "permissions JSON must be compact")
      assert.same({ assisted_signup = { "create", "read", "update" },
                    research_engine = { "read", "trigger" } }, cjson_shim.decode(injected))
      assert.equal("agent:" .. AGENT_ID, rec.upstream["x-fleet-subject"])
    end)

    it("lets an agent holding the required permission through", function()
      answer(200, lookup_body({ assisted_signup = { "create", "read" } }))
      run(conf({ required_permission = "assisted_signup.create" }), { token = jwt(AGENT_CLAIMS) })
      assert.is_nil(rec.exit)
      assert.equal(AGENT_ID, rec.upstream["x-agent-id"])
    end)

    it("refuses with 403 problem+json an agent lacking the required permission", function()
      answer(200, lookup_body({ assisted_signup = { "read" }, demo_generator = { "create" } }))
      run(conf({ required_permission = "assisted_signup.create" }), {
        token = jwt(AGENT_CLAIMS), headers = { ["X-Correlation-ID"] = "corr-123" } })
      assert.equal(403, rec.exit.status)
      local body = problem()
      assert.equal("Forbidden", body.title)
      assert.truthy(body.detail:find("assisted_signup.create", 1, true))
      assert.equal("corr-123", body.correlation_id)
      assert.is_nil(rec.upstream["x-agent-id"])
      assert.is_nil(rec.upstream["x-agent-permissions"])
    end)

    it("lets a platform admin through without the explicit permission", function()
      answer(200, lookup_body({}, { primary_role = "platform_admin", all_roles = { "platform_admin" } }))
      run(conf({ required_permission = "assisted_signup.create" }), { token = jwt(AGENT_CLAIMS) })
      assert.is_nil(rec.exit)
      assert.equal("{}", rec.upstream["x-agent-permissions"])
    end)

    it("does not bypass when bypass_roles is empty", function()
      answer(200, lookup_body({}, { primary_role = "platform_admin", all_roles = { "platform_admin" } }))
      run(conf({ required_permission = "assisted_signup.create", bypass_roles = {} }),
          { token = jwt(AGENT_CLAIMS) })
      assert.equal(403, rec.exit.status)
    end)

    it("answers 403 for an agent human-agent does not know (404)", function()
      answer(404, '{"error":"agent_not_found"}')
      run(conf(), { token = jwt(AGENT_CLAIMS) })
      assert.equal(403, rec.exit.status)
      assert.truthy(problem().detail:find("Unknown agent", 1, true))
      assert.is_nil(rec.upstream["x-agent-id"])
    end)

    it("answers 403 for a suspended or inactive agent", function()
      for _, status in ipairs({ "suspended", "inactive" }) do
        cache_store = {}
        answer(200, lookup_body({ assisted_signup = { "create" } }, { status = status }))
        run(conf(), { token = jwt(AGENT_CLAIMS) })
        assert.equal(403, rec.exit.status)
        assert.truthy(problem().detail:find(status, 1, true))
      end
    end)

    it("fails closed with 503 when human-agent answers 5xx", function()
      answer(500, "boom")
      run(conf(), { token = jwt(AGENT_CLAIMS) })
      assert.equal(503, rec.exit.status)
      local body = problem()
      assert.is_nil(body.detail:find("boom", 1, true), "upstream bodies are never returned")
      assert.is_nil(rec.upstream["x-agent-id"])
      assert.equal("err", rec.logs[1].level)
    end)

    it("fails closed with 503 when human-agent cannot be reached", function()
      http_answer = function() return nil, "timeout" end
      run(conf(), { token = jwt(AGENT_CLAIMS) })
      assert.equal(503, rec.exit.status)
      problem()
    end)

    it("fails closed with 503 when human-agent refuses the service token (401/403)", function()
      answer(403, '{"error":"unauthorized"}')
      run(conf(), { token = jwt(AGENT_CLAIMS) })
      assert.equal(503, rec.exit.status)
    end)

    it("fails closed with 503 on a malformed lookup answer", function()
      answer(200, '{"agent_id":"x"}')
      run(conf(), { token = jwt(AGENT_CLAIMS) })
      assert.equal(503, rec.exit.status)
    end)

    it("fails closed with 503 when the HTTP client throws", function()
      http_answer = function() error("socket exploded") end
      run(conf(), { token = jwt(AGENT_CLAIMS) })
      assert.equal(503, rec.exit.status)
    end)

    it("refuses an agent token without a usable agent_id, without calling human-agent", function()
      for _, bad in ipairs({ JSON_NULL, "../../admin", "" }) do
        local claims = {}
        for k, v in pairs(AGENT_CLAIMS) do claims[k] = v end
        claims.agent_id = bad
        run(conf(), { token = jwt(claims) })
        assert.equal(403, rec.exit.status)
      end
      local claims = {}
      for k, v in pairs(AGENT_CLAIMS) do claims[k] = v end
      claims.agent_id = nil
      run(conf(), { token = jwt(claims) })
      assert.equal(403, rec.exit.status)
      assert.equal(0, #http_calls)
    end)

    it("caches the lookup for cache_ttl seconds, keyed by URL and agent", function()
      answer(200, lookup_body({ assisted_signup = { "create" } }))
      run(conf({ cache_ttl = 7 }), { token = jwt(AGENT_CLAIMS) })
      run(conf({ cache_ttl = 7 }), { token = jwt(AGENT_CLAIMS) })
      assert.equal(1, #http_calls)
      assert.equal(7, rec.cache_gets[1].opts.ttl)
      assert.truthy(rec.cache_gets[1].key:find(AGENT_ID, 1, true))
      assert.truthy(rec.cache_gets[1].key:find(PERMISSIONS_URL, 1, true))
      assert.equal(AGENT_ID, rec.upstream["x-agent-id"])
    end)

    it("caches 'unknown agent' too, but never a failure", function()
      answer(404, "{}")
      run(conf(), { token = jwt(AGENT_CLAIMS) })
      run(conf(), { token = jwt(AGENT_CLAIMS) })
      assert.equal(1, #http_calls)

      cache_store = {}
      http_calls = {}
      answer(503, "")
      run(conf(), { token = jwt(AGENT_CLAIMS) })
      run(conf(), { token = jwt(AGENT_CLAIMS) })
      assert.equal(2, #http_calls)
    end)

    it("answers 401 if the verified token cannot be decoded", function()
      run(conf(), { token = "not-a-jwt" })
      assert.equal(401, rec.exit.status)
      problem()
    end)
  end)
end)
