-- Unit tests of the pure functions of the agent-permissions handler.
-- Run: busted deploy/kong/plugins/agent-permissions/spec   (or scripts/kong-test.sh)

-- Preamble (same in every spec of this plugin): find the plugin directory,
-- give the handler the `cjson.safe` it expects (dkjson ships with busted),
-- and let `require` find the plugin under the module names Kong uses.
local src = debug.getinfo(1, "S").source:sub(2)
local PLUGIN_DIR = src:match("^(.*)/spec/[^/]+$") or (src:match("^spec/") and ".")
assert(PLUGIN_DIR, "cannot locate the plugin directory from " .. src)
-- deploy/?.lua resolves Kong's module names (kong.plugins.agent-permissions.*)
package.path = PLUGIN_DIR .. "/../../../?.lua;" .. package.path
local dkjson = require "dkjson"
local JSON_NULL = setmetatable({}, { __tostring = function() return "null" end })
package.loaded["cjson.safe"] = {
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
    local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
    for j = 1, chars do
      local shift = 18 - 6 * (j - 1)
      local idx = math.floor(n / 2 ^ shift) % 64
      out[#out + 1] = alphabet:sub(idx + 1, idx + 1)
    end
  end
  return table.concat(out)
end

describe("agent-permissions helpers", function()
  local handler, h

  setup(function()
    handler = require "kong.plugins.agent-permissions.handler"
    h = handler.helpers
  end)

  it("runs after jwt (1450) and before rate-limiting (910) and request-size-limiting (951)", function()
    assert.is_true(handler.PRIORITY < 1450)
    assert.is_true(handler.PRIORITY > 951)
    assert.is_string(handler.VERSION)
    assert.is_function(handler.access)
  end)

  describe("parse_permission", function()
    it("splits service.action", function()
      local s, a = h.parse_permission("assisted_signup.create")
      assert.equal("assisted_signup", s)
      assert.equal("create", a)
    end)

    it("accepts dashes and digits", function()
      local s, a = h.parse_permission("demo-generator2.approve")
      assert.equal("demo-generator2", s)
      assert.equal("approve", a)
    end)

    for _, bad in ipairs({ "", "assisted_signup", ".create", "assisted_signup.",
                           "a.b.c", "a b.c", "a.b\n", "a:b" }) do
      it("rejects " .. string.format("%q", bad), function()
        local s, err = h.parse_permission(bad)
        assert.is_nil(s)
        assert.is_string(err)
      end)
    end

    it("rejects non-strings", function()
      assert.is_nil((h.parse_permission(nil)))
      assert.is_nil((h.parse_permission(42)))
    end)
  end)

  describe("has_permission", function()
    local perms = {
      assisted_signup = { "create", "read", "update" },
      research_engine = { "read", "trigger" },
      empty = {},
    }

    it("finds a granted action", function()
      assert.is_true(h.has_permission(perms, "assisted_signup", "create"))
      assert.is_true(h.has_permission(perms, "research_engine", "trigger"))
    end)

    it("refuses an action that is not granted", function()
      assert.is_false(h.has_permission(perms, "assisted_signup", "delete"))
      assert.is_false(h.has_permission(perms, "research_engine", "create"))
      assert.is_false(h.has_permission(perms, "empty", "read"))
    end)

    it("refuses an unknown service", function()
      assert.is_false(h.has_permission(perms, "billing", "read"))
    end)

    it("does not treat a prefix or a service name as an action", function()
      assert.is_false(h.has_permission(perms, "assisted_signup", "cre"))
      assert.is_false(h.has_permission(perms, "assisted_signup", "assisted_signup"))
    end)

    it("copes with malformed permission documents", function()
      assert.is_false(h.has_permission(nil, "a", "b"))
      assert.is_false(h.has_permission("x", "a", "b"))
      assert.is_false(h.has_permission({ a = "b" }, "a", "b"))
      assert.is_false(h.has_permission({ a = { b = true } }, "a", "b"))
    end)
  end)

  describe("has_any_role", function()
    it("matches the primary role or any of all_roles", function()
      assert.is_true(h.has_any_role({ primary_role = "platform_admin" }, { "platform_admin" }))
      assert.is_true(h.has_any_role({ primary_role = "sales_agent",
                                      all_roles = { "sales_agent", "platform_admin" } },
                                    { "platform_admin" }))
    end)

    it("does not match other roles or empty lists", function()
      assert.is_false(h.has_any_role({ primary_role = "sales_agent", all_roles = { "sales_agent" } },
                                     { "platform_admin" }))
      assert.is_false(h.has_any_role({ primary_role = "platform_admin" }, {}))
      assert.is_false(h.has_any_role(nil, { "platform_admin" }))
      assert.is_false(h.has_any_role({ primary_role = "platform_admin" }, nil))
    end)
  end)

  describe("headers_to_strip", function()
    it("returns every X-Agent-* header, case-insensitively, and the subject header", function()
      local names = h.headers_to_strip({
        ["x-agent-id"] = "forged",
        ["X-Agent-Permissions"] = "{}",
        ["X-AGENT-ROLE"] = "platform_admin",
        ["x-fleet-subject"] = "org:someone-else",
        ["authorization"] = "Bearer x",
        ["x-agentid"] = "not a prefix match",
        ["x-correlation-id"] = "abc",
      }, "X-Fleet-Subject")
      assert.same({ "x-agent-id", "x-agent-permissions", "x-agent-role", "x-fleet-edge-signature",
                    "x-fleet-edge-time", "x-fleet-subject" }, names)
    end)

    it("always names X-Agent-ID and X-Agent-Permissions, even if they were not seen", function()
      assert.same({ "x-agent-id", "x-agent-permissions", "x-fleet-edge-signature", "x-fleet-edge-time" },
                  h.headers_to_strip({ accept = "*/*" }, nil))
      assert.same({ "x-agent-id", "x-agent-permissions", "x-fleet-edge-signature", "x-fleet-edge-time",
                    "x-fleet-subject" },
                  h.headers_to_strip(nil, "X-Fleet-Subject"))
    end)

    it("names each header once", function()
      assert.same({ "x-agent-id", "x-agent-permissions", "x-fleet-edge-signature", "x-fleet-edge-time" },
                  h.headers_to_strip({ ["X-Agent-ID"] = "a", ["x-agent-id"] = "b" }, "x-agent-id"))
    end)
  end)

  describe("canonical", function()
    it("is the string libs/auth/src/edge.rs signs (shared vector)", function()
      local digest_of = {}
      local s = h.canonical({
        method = "get",
        path = "/api/v1/agents/available",
        authorization = "Bearer abc.def.ghi",
        agent_id = "7f1c9c4e-4a57-4d43-9f55-3f2f4b1b2a10",
        permissions = '{"assisted_signup":["create","read"]}',
        forwarded_for = "203.0.113.9, 10.0.0.7",
        time = 1767225600,
      }, function(v) digest_of[#digest_of + 1] = v; return "DIGEST" end)
      assert.same({ "Bearer abc.def.ghi" }, digest_of)
      assert.equal("fleet-edge-v1\nGET\n/api/v1/agents/available\nDIGEST\n" ..
                   "7f1c9c4e-4a57-4d43-9f55-3f2f4b1b2a10\n{\"assisted_signup\":[\"create\",\"read\"]}\n" ..
                   "203.0.113.9, 10.0.0.7\n1767225600", s)
    end)

    it("writes absent headers as empty lines and a missing Authorization as -", function()
      local s = h.canonical({ method = "POST", path = "/x", time = 5 }, function() error("no digest") end)
      assert.equal("fleet-edge-v1\nPOST\n/x\n-\n\n\n\n5", s)
    end)
  end)

  describe("forwarded_for", function()
    it("appends the connecting address as Kong's runloop does", function()
      assert.equal("203.0.113.9, 10.0.0.7", h.forwarded_for("203.0.113.9", "10.0.0.7"))
      assert.equal("10.0.0.7", h.forwarded_for(nil, "10.0.0.7"))
    end)
  end)

  describe("permissions_url", function()
    local template = "http://human-agent:8080/api/v1/agents/{agent_id}/permissions"

    it("fills the agent id", function()
      assert.equal("http://human-agent:8080/api/v1/agents/4f1c2a9e-0b7d-4e1a-9c55-1d2e3f4a5b6c/permissions",
                   (h.permissions_url(template, "4f1c2a9e-0b7d-4e1a-9c55-1d2e3f4a5b6c")))
    end)

    it("does not interpret % in the agent id as a gsub capture", function()
      assert.is_nil((h.permissions_url(template, "%1")))
    end)

    for _, bad in ipairs({ "", "../admin", "a/b", "a?b", "a b", "a%2Fb", string.rep("a", 129) }) do
      it("refuses agent id " .. string.format("%q", bad:sub(1, 20)), function()
        local url, err = h.permissions_url(template, bad)
        assert.is_nil(url)
        assert.is_string(err)
      end)
    end

    it("refuses a non-string agent id", function()
      assert.is_nil((h.permissions_url(template, nil)))
      assert.is_nil((h.permissions_url(template, 12)))
    end)
  end)

  describe("base64url_decode", function()
    it("decodes with and without padding", function()
      assert.equal("hello", h.base64url_decode("aGVsbG8"))
      assert.equal("hello", h.base64url_decode("aGVsbG8="))
      assert.equal("hi", h.base64url_decode("aGk"))
      assert.equal("", h.base64url_decode(""))
    end)

    it("uses the URL-safe alphabet", function()
      -- bytes fb ff bf encode to "-_-_" in base64url ("+/+/" in base64)
      assert.equal("\251\255\191", h.base64url_decode("-_-_"))
      assert.equal("\251\255\191", h.base64url_decode("+/+/"))
    end)

    it("round-trips arbitrary bytes", function()
      local all = {}
      for i = 0, 255 do all[#all + 1] = string.char(i) end
      local s = table.concat(all)
      for len = 0, 10 do
        assert.equal(s:sub(1, len), h.base64url_decode(b64url(s:sub(1, len))))
      end
      assert.equal(s, h.base64url_decode(b64url(s)))
    end)

    it("rejects garbage", function()
      assert.is_nil((h.base64url_decode("a")))
      assert.is_nil((h.base64url_decode("ab$d")))
      assert.is_nil((h.base64url_decode(nil)))
    end)
  end)

  describe("decode_jwt_claims", function()
    local function token(claims)
      return b64url('{"alg":"RS256","typ":"JWT","kid":"k1"}') .. "." .. b64url(claims) .. ".c2ln"
    end

    it("returns the payload claims", function()
      local claims = h.decode_jwt_claims(token('{"user_type":"agent","agent_id":"a-1","exp":1728392400}'))
      assert.equal("agent", claims.user_type)
      assert.equal("a-1", claims.agent_id)
      assert.equal(1728392400, claims.exp)
    end)

    it("rejects tokens that are not compact JWS with a JSON object payload", function()
      assert.is_nil((h.decode_jwt_claims(nil)))
      assert.is_nil((h.decode_jwt_claims("abc")))
      assert.is_nil((h.decode_jwt_claims("a.b")))
      assert.is_nil((h.decode_jwt_claims("a.b.c.d")))
      assert.is_nil((h.decode_jwt_claims(token("[1,2]"))))
      assert.is_nil((h.decode_jwt_claims(token("not json"))))
      assert.is_nil((h.decode_jwt_claims("eyJ.%%%.x")))
    end)
  end)

  describe("subject_for", function()
    it("uses the organization for client users", function()
      assert.equal("org:o-1", h.subject_for({ user_type = "client", user_id = "u-1", organization_id = "o-1" }))
    end)

    it("uses the agent for agents, even if an organization is present", function()
      assert.equal("agent:a-1", h.subject_for({ user_type = "agent", agent_id = "a-1", user_id = "u-1",
                                                organization_id = "o-1" }))
    end)

    it("falls back to the user, and to nothing", function()
      assert.equal("user:u-1", h.subject_for({ user_type = "client", user_id = "u-1",
                                               organization_id = package.loaded["cjson.safe"].null }))
      assert.is_nil(h.subject_for({}))
      assert.is_nil(h.subject_for(nil))
    end)
  end)

  describe("interpret_lookup", function()
    it("keeps the permissions, roles and status of a 200", function()
      local v = h.interpret_lookup(200, [[{"agent_id":"a-1","primary_role":"sales_agent",
        "all_roles":["sales_agent"],"status":"active",
        "permissions":{"assisted_signup":["create","read"]}}]])
      assert.is_true(v.found)
      assert.same({ "create", "read" }, v.permissions.assisted_signup)
      assert.equal("sales_agent", v.primary_role)
      assert.same({ "sales_agent" }, v.all_roles)
      assert.equal("active", v.status)
    end)

    it("turns 404 into a cacheable 'not found'", function()
      assert.same({ found = false }, h.interpret_lookup(404, "{}"))
    end)

    for _, case in ipairs({
      { 500, "{}" }, { 503, "" }, { 401, "{}" }, { 403, '{"error":"unauthorized"}' },
      { 200, "not json" }, { 200, "[]" }, { 200, '{"agent_id":"a"}' },
      { 200, '{"permissions":"all"}' }, { 200, nil },
    }) do
      it("fails (uncached) on HTTP " .. case[1] .. " " .. tostring(case[2]), function()
        local v, err = h.interpret_lookup(case[1], case[2])
        assert.is_nil(v)
        assert.is_string(err)
      end)
    end
  end)

  describe("encode_permissions", function()
    it("encodes compact JSON that decodes to the same object", function()
      local json = h.encode_permissions({ assisted_signup = { "create", "read" }, demo = { "approve" } })
      assert.is_nil(json:find("%s"))
      assert.same({ assisted_signup = { "create", "read" }, demo = { "approve" } },
                  package.loaded["cjson.safe"].decode(json))
    end)

    it("encodes an empty permission set as an object", function()
      assert.equal("{}", h.encode_permissions({}))
      assert.equal("{}", h.encode_permissions(nil))
    end)
  end)

  describe("problem", function()
    it("builds an RFC 9457 document", function()
      assert.same({ type = "about:blank", title = "Forbidden", status = 403,
                    detail = "Missing permission a.b.", correlation_id = "c-1" },
                  h.problem(403, "Forbidden", "Missing permission a.b.", "c-1"))
      assert.is_nil(h.problem(403, "Forbidden", "x").correlation_id)
    end)
  end)
end)
