-- Checks of deploy/kong/kong.yaml that deck 1.4 cannot make: the conventions the
-- Rust fleet gateway relies on, the public/authenticated/denied split, the plugin
-- settings, and - through a small simulation of Kong 3.x's traditional_compatible
-- router priority - which route answers which request.

local src = debug.getinfo(1, "S").source:sub(2)
local PLUGIN_DIR = src:match("^(.*)/spec/[^/]+$") or (src:match("^spec/") and ".")
assert(PLUGIN_DIR, "cannot locate the plugin directory from " .. src)
local KONG_YAML = PLUGIN_DIR .. "/../../kong.yaml"

local lyaml = require "lyaml"

local SERVICES = {
  "org-auth", "human-agent", "research", "demo", "nda", "pricing", "proposal", "prd",
  "orchestration", "voice", "config", "monitoring", "analytics", "support", "crm",
  "manufacturer-catalog", "tenant-provisioning", "feedback",
}

local PREFIXES = {
  ["/api/v1/auth"] = "org-auth", ["/api/v1/organizations"] = "org-auth",
  ["/api/v1/invitations"] = "org-auth", ["/api/v1/agents"] = "human-agent",
  ["/api/v1/research"] = "research", ["/api/v1/demos"] = "demo", ["/api/v1/ndas"] = "nda",
  ["/api/v1/pricing"] = "pricing", ["/api/v1/proposals"] = "proposal", ["/api/v1/prds"] = "prd",
  ["/api/v1/assistants"] = "orchestration", ["/api/v1/threads"] = "orchestration",
  ["/api/v1/tools"] = "orchestration", ["/api/v1/workflows"] = "orchestration",
  ["/api/v1/voice"] = "voice", ["/api/v1/configs"] = "config", ["/api/v1/schemas"] = "config",
  ["/api/v1/flags"] = "config", ["/api/v1/monitoring"] = "monitoring",
  ["/api/v1/analytics"] = "analytics", ["/api/v1/support"] = "support", ["/api/v1/crm"] = "crm",
  ["/api/v1/catalog"] = "manufacturer-catalog", ["/api/v1/tenants"] = "tenant-provisioning",
  ["/api/v1/feedback"] = "feedback", ["/api/v1/surveys"] = "feedback",
}

local PUBLIC_ROUTES = {
  "route-org-auth-signup", "route-org-auth-verify-email", "route-org-auth-login", "route-org-auth-login-mfa",
  "route-org-auth-refresh", "route-org-auth-logout", "route-org-auth-password-reset",
  "route-org-auth-claim-account", "route-org-auth-invitation-accept",
  "route-org-auth-oauth-authorize", "route-org-auth-oauth-callback", "route-org-auth-jwks",
  "route-research-client-feedback", "route-demo-client-feedback", "route-nda-webhooks",
  "route-voice-webhooks", "route-voice-media-stream", "route-support-inbound-email",
  "route-crm-webhooks", "route-tenant-provisioning-webhooks",
}

local METHODS = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE" }

---------------------------------------------------------------------------
-- helpers
---------------------------------------------------------------------------

local function has_tag(entity, tag)
  for _, t in ipairs(entity.tags or {}) do
    if t == tag then return true end
  end
  return false
end

local function tag_value(entity, prefix)
  local found
  for _, t in ipairs(entity.tags or {}) do
    if t:sub(1, #prefix + 1) == prefix .. ":" then
      assert(found == nil, "two " .. prefix .. " tags")
      found = t:sub(#prefix + 2)
    end
  end
  return found
end

local function plugin(list, name)
  local found
  for _, p in ipairs(list or {}) do
    if p.name == name then
      assert(found == nil, "plugin " .. name .. " configured twice in one scope")
      found = p
    end
  end
  return found
end

local function sorted(t)
  table.sort(t)
  return t
end

--- Translates the supported regex subset into an anchored Lua pattern.
-- Subset: literal [%w/_:-], "[^/]+", "[^/]*", "\.", "X?" (X a literal), and "$" at the end.
local function regex_to_lua(re)
  local out, i = { "^" }, 1
  while i <= #re do
    local rest = re:sub(i)
    if rest:sub(1, 5) == "[^/]+" or rest:sub(1, 5) == "[^/]*" then
      out[#out + 1] = rest:sub(1, 5)
      i = i + 5
    elseif rest:sub(1, 2) == "\\." then
      out[#out + 1] = "%."
      i = i + 2
    elseif rest == "$" then
      out[#out + 1] = "$"
      i = i + 1
    elseif rest:sub(1, 1) == "?" then
      assert(#out > 1 and not out[#out]:match("[%]%*%+%?]$"), "'?' must follow a literal in " .. re)
      out[#out + 1] = "?"
      i = i + 1
    elseif rest:match("^[%w/_:]") then
      out[#out + 1] = rest:sub(1, 1)
      i = i + 1
    elseif rest:sub(1, 1) == "-" then
      out[#out + 1] = "%-"
      i = i + 1
    else
      error("regex '" .. re .. "' leaves the supported subset at '" .. rest .. "'")
    end
  end
  assert(out[#out] == "$", "regex '" .. re .. "' must end with $")
  return table.concat(out)
end

---------------------------------------------------------------------------

describe("deploy/kong/kong.yaml", function()
  local doc, routes, services_by_name, routes_by_name, global_plugins

  setup(function()
    local f = assert(io.open(KONG_YAML, "r"))
    local text = f:read("*a")
    f:close()
    doc = lyaml.load(text)
    routes, services_by_name, routes_by_name = {}, {}, {}
    for _, s in ipairs(doc.services) do
      services_by_name[s.name] = s
      for _, r in ipairs(s.routes or {}) do
        r.__service = s
        routes[#routes + 1] = r
        routes_by_name[r.name] = r
      end
    end
    global_plugins = doc.plugins
  end)

  -- The plugin a request on `route` really runs: route > service > global.
  local function effective(route, name)
    return plugin(route.plugins, name) or plugin(route.__service.plugins, name) or plugin(global_plugins, name)
  end

  -------------------------------------------------------------------------
  -- Kong 3.x router simulation (traditional_compatible flavour):
  -- a route is split per path; priority, most significant first:
  --   number of matching fields (methods, hosts, headers, snis, paths),
  --   header count, regex path over prefix path, regex_priority (regex only),
  --   prefix length (prefix only). Equal top priorities are ambiguous.
  -------------------------------------------------------------------------
  local candidates_cache
  local function compiled()
    if candidates_cache then return candidates_cache end
    candidates_cache = {}
    for _, r in ipairs(routes) do
      for _, p in ipairs(r.paths or {}) do
        local c = { route = r, path = p }
        c.weight = ((r.methods and #r.methods > 0) and 1 or 0) + ((r.hosts and #r.hosts > 0) and 1 or 0)
                 + ((r.headers and next(r.headers)) and 1 or 0) + ((r.snis and #r.snis > 0) and 1 or 0) + 1
        c.regex = p:sub(1, 1) == "~"
        if c.regex then
          c.pattern = regex_to_lua(p:sub(2))
          c.regex_priority = r.regex_priority or 0
          c.length = 0
        else
          c.regex_priority = 0
          c.length = #p
        end
        candidates_cache[#candidates_cache + 1] = c
      end
    end
    return candidates_cache
  end

  local function key(c)
    return { c.weight, c.regex and 1 or 0, c.regex_priority, c.length }
  end

  local function compare(a, b) -- > 0 when a has the higher priority
    local ka, kb = key(a), key(b)
    for i = 1, #ka do
      if ka[i] ~= kb[i] then return ka[i] - kb[i] end
    end
    return 0
  end

  local function matches(c, method, path)
    local r = c.route
    if r.methods and #r.methods > 0 then
      local ok = false
      for _, m in ipairs(r.methods) do if m == method then ok = true end end
      if not ok then return false end
    end
    if c.regex then
      return path:match(c.pattern) ~= nil
    end
    return path:sub(1, #c.path) == c.path
  end

  -- returns the route, or nil; errors when the winner is ambiguous
  local function route_for(method, path)
    local best, tie
    for _, c in ipairs(compiled()) do
      if matches(c, method, path) then
        if not best or compare(c, best) > 0 then
          best, tie = c, nil
        elseif compare(c, best) == 0 and c.route ~= best.route then
          tie = c
        end
      end
    end
    if tie then
      error(("ambiguous routing for %s %s: %s and %s"):format(method, path, best.route.name, tie.route.name))
    end
    return best and best.route or nil
  end

  -------------------------------------------------------------------------

  it("is Kong 3.x declarative config", function()
    assert.equal("3.0", doc._format_version)
  end)

  it("has one service per fleet service, named and addressed by convention", function()
    local names = {}
    for _, s in ipairs(doc.services) do
      names[#names + 1] = s.name
      local svc = s.name:match("^svc%-(.+)$")
      assert.is_string(svc, s.name)
      assert.equal("http://" .. svc .. ":8080", s.url)
      assert.is_true(has_tag(s, "service:" .. svc), s.name)
    end
    local expected = {}
    for _, n in ipairs(SERVICES) do expected[#expected + 1] = "svc-" .. n end
    assert.same(sorted(expected), sorted(names))
  end)

  it("names and tags every route by convention", function()
    for _, r in ipairs(routes) do
      local svc = r.__service.name:sub(5)
      assert.equal("route-" .. svc .. "-", r.name:sub(1, #svc + 7), r.name)
      assert.is_true(#r.name > #svc + 7, r.name)
      assert.equal(svc, tag_value(r, "service"), r.name)
      local access = tag_value(r, "access")
      assert.truthy(access == "authenticated" or access == "public" or access == "denied", r.name)
      assert.is_false(r.strip_path, r.name)
      assert.is_table(r.paths, r.name)
      assert.is_nil(r.hosts, r.name)
      assert.is_nil(r.headers, r.name)
    end
  end)

  it("uses regex paths from the supported subset, and prefixes only on authenticated catch-alls", function()
    for _, r in ipairs(routes) do
      local regex_count = 0
      for _, p in ipairs(r.paths) do
        if p:sub(1, 1) == "~" then
          regex_count = regex_count + 1
          regex_to_lua(p:sub(2)) -- errors outside the subset
        else
          assert.equal("authenticated", tag_value(r, "access"), r.name .. " has prefix path " .. p)
          assert.is_nil(r.methods, r.name)
          assert.truthy(r.name:match("%-prefix%-"), r.name)
          assert.equal("/", p:sub(1, 1))
          assert.is_nil(p:find("/$"), p)
        end
      end
      assert.truthy(regex_count == 0 or regex_count == #r.paths, r.name .. " mixes regex and prefix paths")
    end
  end)

  it("routes every public API prefix of the spec to its service with the jwt plugin", function()
    local seen = {}
    for _, r in ipairs(routes) do
      for _, p in ipairs(r.paths) do
        if p:sub(1, 1) ~= "~" then
          assert.is_nil(seen[p], "prefix " .. p .. " routed twice")
          seen[p] = r.__service.name:sub(5)
        end
      end
    end
    assert.same(PREFIXES, seen)
  end)

  it("puts jwt on exactly the authenticated routes", function()
    for _, r in ipairs(routes) do
      local access = tag_value(r, "access")
      local j = plugin(r.plugins, "jwt")
      if access == "authenticated" then
        assert.is_table(j, r.name .. " lacks jwt")
        assert.equal("kid", j.config.key_claim_name)
        assert.same({ "exp" }, j.config.claims_to_verify)
        assert.same({}, j.config.uri_param_names, "tokens in query strings end up in logs")
        assert.same({}, j.config.cookie_names)
        assert.same({ "authorization" }, j.config.header_names)
      else
        assert.is_nil(j, r.name .. " must not have jwt")
      end
      assert.is_nil(plugin(r.__service.plugins, "jwt"), "jwt belongs on routes, not services")
    end
    assert.is_nil(plugin(global_plugins, "jwt"))
  end)

  it("has exactly the expected public (no-auth) routes, each naming what the service checks", function()
    local public = {}
    for _, r in ipairs(routes) do
      if tag_value(r, "access") == "public" then
        public[#public + 1] = r.name
        assert.is_string(tag_value(r, "credential"), r.name)
        assert.is_table(r.methods, r.name .. ": public routes name their methods")
        assert.is_nil(effective(r, "agent-permissions").config.required_permission, r.name)
      else
        assert.is_nil(tag_value(r, "credential"), r.name)
      end
    end
    local expected = {}
    for _, n in ipairs(PUBLIC_ROUTES) do expected[#expected + 1] = n end
    assert.same(sorted(expected), sorted(public))
  end)

  it("never proxies human-agent's internal permission lookup", function()
    local denied = routes_by_name["route-human-agent-permissions-denied"]
    assert.is_table(denied)
    assert.equal("denied", tag_value(denied, "access"))
    local t = plugin(denied.plugins, "request-termination")
    assert.equal(404, t.config.status_code)
    assert.equal("application/problem+json", t.config.content_type)
    assert.is_nil(denied.methods, "every method must be denied")
    for _, m in ipairs(METHODS) do
      for _, p in ipairs({ "/api/v1/agents/7b0e5c1a-3f4d-4c2b-9a8e-1f2d3c4b5a69/permissions",
                           "/api/v1/agents/x/permissions/", "/api/v1/agents//permissions" }) do
        assert.equal("route-human-agent-permissions-denied", route_for(m, p).name, m .. " " .. p)
      end
    end
    for _, r in ipairs(routes) do
      local access = tag_value(r, "access")
      assert.equal(access == "denied", plugin(r.plugins, "request-termination") ~= nil, r.name)
    end
  end)

  it("gives the issuer consumer RS256 public keys only", function()
    assert.equal(1, #doc.consumers)
    local secrets = doc.consumers[1].jwt_secrets
    assert.is_true(#secrets >= 1)
    for _, s in ipairs(secrets) do
      assert.equal("RS256", s.algorithm)
      assert.is_string(s.key)
      assert.truthy(s.rsa_public_key:find("-----BEGIN PUBLIC KEY-----", 1, true))
      assert.is_nil(s.rsa_public_key:find("PRIVATE", 1, true))
    end
  end)

  it("configures the global plugins", function()
    local cid = plugin(global_plugins, "correlation-id").config
    assert.same({ header_name = "X-Correlation-ID", generator = "uuid", echo_downstream = true }, cid)
    assert.is_table(plugin(global_plugins, "cors"))
    assert.is_table(plugin(global_plugins, "prometheus"))
    local size = plugin(global_plugins, "request-size-limiting").config
    assert.equal(1, size.allowed_payload_size)
    assert.equal("megabytes", size.size_unit)
    local ap = plugin(global_plugins, "agent-permissions").config
    assert.is_nil(ap.required_permission)
  end)

  it("configures every agent-permissions instance alike, apart from required_permission", function()
    local ref = plugin(global_plugins, "agent-permissions").config
    assert.equal("http://human-agent:8080/api/v1/agents/{agent_id}/permissions", ref.permissions_url)
    assert.equal("{vault://env/fleet-kong-credential}", ref.service_token)
    assert.equal("{vault://env/fleet-edge-key}", ref.edge_key)
    assert.equal(5, ref.cache_ttl)
    assert.is_string(ref.subject_header)
    local function check(p)
      for _, k in ipairs({ "permissions_url", "service_token", "edge_key", "cache_ttl", "timeout_ms",
                           "subject_header" }) do
        assert.same(ref[k], p.config[k], k)
      end
      assert.same(ref.bypass_roles, p.config.bypass_roles)
    end
    for _, r in ipairs(routes) do
      local p = plugin(r.plugins, "agent-permissions")
      if p then
        check(p)
        assert.equal("authenticated", tag_value(r, "access"), r.name)
        assert.is_string(p.config.required_permission, r.name)
      end
      assert.is_nil(plugin(r.__service.plugins, "agent-permissions"))
    end
  end)

  it("requires the assisted-signup permissions where the spec says so", function()
    local function required(name)
      return effective(routes_by_name[name], "agent-permissions").config.required_permission
    end
    assert.equal("assisted_signup.create", required("route-org-auth-assisted-signup"))
    assert.equal("assisted_signup.read", required("route-org-auth-assisted-accounts-read"))
    assert.equal("assisted_signup.update", required("route-org-auth-assisted-accounts-update"))
    assert.is_nil(required("route-org-auth-prefix-auth"))
  end)

  it("rate-limits every route through Redis, by IP or by the subject header, citing a source", function()
    local subject = plugin(global_plugins, "agent-permissions").config.subject_header
    local function check(p, where)
      assert.equal("redis", p.config.policy, where)
      assert.is_string(p.config.redis_host, where)
      -- Kong's own Redis ACL user, limited to its counters (~ratelimit:*)
      assert.equal("kong", p.config.redis_username, where)
      assert.equal("{vault://env/fleet-kong-redis-password}", p.config.redis_password, where)
      if p.config.limit_by == "header" then
        assert.equal(subject, p.config.header_name, where)
      else
        assert.equal("ip", p.config.limit_by, where)
      end
      local source = tag_value(p, "source")
      assert.truthy(source == "default" or source == "backstop"
                    or source:match("^platform%-spec%.md:%d+$") or source:match("^seed%-notes%.md:%d+$"),
                    where .. ": " .. tostring(source))
      local order, last = { "second", "minute", "hour", "day", "month", "year" }, nil
      for _, period in ipairs(order) do
        local v = p.config[period]
        if v then
          assert.is_true(v > 0)
          if last then assert.is_true(v >= last, where .. ": limits must grow with the period") end
          last = v
        end
      end
      assert.is_number(last, where .. " sets no limit")
    end
    assert.is_nil(plugin(global_plugins, "rate-limiting"))
    for _, s in ipairs(doc.services) do
      check(assert(plugin(s.plugins, "rate-limiting"), s.name .. " has no rate limit"), s.name)
    end
    for _, r in ipairs(routes) do
      local p = plugin(r.plugins, "rate-limiting")
      if p then check(p, r.name) end
    end
  end)

  it("applies the spec's limits to the matching routes", function()
    local function limits(name)
      local c = effective(routes_by_name[name], "rate-limiting").config
      local by = c.limit_by == "ip" and "ip" or "subject"
      for _, period in ipairs({ "second", "minute", "hour", "day", "month" }) do
        if c[period] and period ~= "second" then
          return c[period] .. "/" .. period .. "/" .. by
        end
      end
    end
    assert.equal("10/hour/ip", limits("route-org-auth-signup"))
    assert.equal("20/hour/ip", limits("route-org-auth-login"))
    assert.equal("20/hour/ip", limits("route-org-auth-login-mfa"))
    assert.equal("50/hour/ip", limits("route-org-auth-oauth-authorize"))
    assert.equal("50/hour/ip", limits("route-org-auth-oauth-callback"))
    assert.equal("100/day/subject", limits("route-org-auth-invitations-create"))
    assert.equal("100/day/subject", limits("route-org-auth-assisted-signup"))
    assert.equal("1000/minute/subject", limits("route-human-agent-prefix-agents"))
    assert.equal("50/hour/subject", limits("route-human-agent-handoffs-create"))
    assert.equal("20/day/subject", limits("route-human-agent-specialist-invitations-create"))
    assert.equal("100/hour/subject", limits("route-human-agent-availability-update"))
    assert.equal("500/minute/subject", limits("route-research-prefix-research"))
    assert.equal("100/hour/subject", limits("route-research-jobs-create"))
    assert.equal("10/hour/subject", limits("route-demo-generate"))
    assert.equal("1000/minute/subject", limits("route-demo-prefix-demos"))
    assert.equal("50/hour/subject", limits("route-nda-generate"))
    assert.equal("100/day/subject", limits("route-nda-remind"))
    assert.equal("100/hour/subject", limits("route-pricing-calculate"))
    assert.equal("10/month/subject", limits("route-pricing-experiments-create"))
    assert.equal("20/hour/subject", limits("route-proposal-generate"))
    assert.equal("1000/minute/subject", limits("route-proposal-prefix-proposals"))
    assert.equal("60/minute/ip", limits("route-manufacturer-catalog-prefix-catalog"))
  end)

  it("allows larger bodies only where uploads need them", function()
    local function mb(name)
      local c = effective(routes_by_name[name], "request-size-limiting").config
      assert.equal("megabytes", c.size_unit)
      return c.allowed_payload_size
    end
    assert.equal(10, mb("route-manufacturer-catalog-products-bulk"))
    assert.equal(25, mb("route-support-inbound-email"))
    for _, r in ipairs(routes) do
      if r.name ~= "route-manufacturer-catalog-products-bulk" and r.name ~= "route-support-inbound-email" then
        assert.equal(1, mb(r.name), r.name)
      end
    end
  end)

  describe("routing (simulated Kong 3.x priority)", function()
    local cases = {
      { "POST", "/api/v1/auth/signup", "route-org-auth-signup" },
      { "GET", "/api/v1/auth/signup", "route-org-auth-prefix-auth" },
      { "POST", "/api/v1/auth/signup/extra", "route-org-auth-prefix-auth" },
      { "POST", "/api/v1/auth/verify-email", "route-org-auth-verify-email" },
      { "POST", "/api/v1/auth/login", "route-org-auth-login" },
      { "POST", "/api/v1/auth/login/mfa", "route-org-auth-login-mfa" },
      { "POST", "/api/v1/auth/refresh", "route-org-auth-refresh" },
      { "POST", "/api/v1/auth/logout", "route-org-auth-logout" },
      { "POST", "/api/v1/auth/password-reset", "route-org-auth-password-reset" },
      { "POST", "/api/v1/auth/password-reset/confirm", "route-org-auth-password-reset" },
      { "POST", "/api/v1/auth/claim-account", "route-org-auth-claim-account" },
      { "GET", "/api/v1/auth/oauth/google/authorize", "route-org-auth-oauth-authorize" },
      { "GET", "/api/v1/auth/oauth/github/callback", "route-org-auth-oauth-callback" },
      { "POST", "/api/v1/auth/assisted-signup", "route-org-auth-assisted-signup" },
      { "GET", "/api/v1/auth/assisted-accounts", "route-org-auth-assisted-accounts-read" },
      { "GET", "/api/v1/auth/assisted-accounts/u1", "route-org-auth-assisted-accounts-read" },
      { "POST", "/api/v1/auth/assisted-accounts/u1/resend-claim", "route-org-auth-assisted-accounts-update" },
      { "POST", "/api/v1/auth/assisted-accounts/u1/access", "route-org-auth-assisted-accounts-update" },
      { "GET", "/api/v1/auth/me", "route-org-auth-prefix-auth" },
      { "POST", "/api/v1/organizations", "route-org-auth-prefix-organizations" },
      { "POST", "/api/v1/organizations/o1/invitations", "route-org-auth-invitations-create" },
      { "GET", "/api/v1/organizations/o1/members", "route-org-auth-prefix-organizations" },
      { "PATCH", "/api/v1/organizations/o1/members/u1", "route-org-auth-prefix-organizations" },
      { "POST", "/api/v1/invitations/i1/accept", "route-org-auth-invitation-accept" },
      { "GET", "/api/v1/invitations/i1", "route-org-auth-prefix-invitations" },
      { "GET", "/.well-known/jwks.json", "route-org-auth-jwks" },
      { "GET", "/.well-known/jwksXjson", nil },
      { "POST", "/api/v1/agents", "route-human-agent-prefix-agents" },
      { "POST", "/api/v1/agents/assignments", "route-human-agent-prefix-agents" },
      { "POST", "/api/v1/agents/handoffs", "route-human-agent-handoffs-create" },
      { "POST", "/api/v1/agents/handoffs/h1/accept", "route-human-agent-prefix-agents" },
      { "POST", "/api/v1/agents/invitations", "route-human-agent-specialist-invitations-create" },
      { "GET", "/api/v1/agents/a1/workload", "route-human-agent-prefix-agents" },
      { "PATCH", "/api/v1/agents/a1/availability", "route-human-agent-availability-update" },
      { "GET", "/api/v1/agents/available", "route-human-agent-prefix-agents" },
      { "GET", "/api/v1/agents/clients/c1/timeline", "route-human-agent-prefix-agents" },
      { "GET", "/api/v1/agents/supervision/ai-activity", "route-human-agent-prefix-agents" },
      { "POST", "/api/v1/research/jobs", "route-research-jobs-create" },
      { "GET", "/api/v1/research/jobs", "route-research-prefix-research" },
      { "GET", "/api/v1/research/jobs/j1/report", "route-research-prefix-research" },
      { "POST", "/api/v1/research/jobs/j1/client-feedback", "route-research-client-feedback" },
      { "POST", "/api/v1/research/jobs/j1/chat", "route-research-prefix-research" },
      { "POST", "/api/v1/demos/generate", "route-demo-generate" },
      { "POST", "/api/v1/demos/generate-showcase", "route-demo-generate" },
      { "PATCH", "/api/v1/demos/d1", "route-demo-prefix-demos" },
      { "POST", "/api/v1/demos/d1/client-feedback", "route-demo-client-feedback" },
      { "POST", "/api/v1/demos/d1/feedback", "route-demo-prefix-demos" },
      { "POST", "/api/v1/ndas/generate", "route-nda-generate" },
      { "POST", "/api/v1/ndas/n1/remind", "route-nda-remind" },
      { "POST", "/api/v1/ndas/webhooks/signature-complete", "route-nda-webhooks" },
      { "POST", "/api/v1/ndas/webhooks/docusign", "route-nda-webhooks" },
      { "POST", "/api/v1/ndas/webhooks/remind", "route-nda-remind" },
      { "GET", "/api/v1/ndas/n1/document", "route-nda-prefix-ndas" },
      { "POST", "/api/v1/pricing/generate", "route-pricing-calculate" },
      { "POST", "/api/v1/pricing/enterprise/calculate", "route-pricing-calculate" },
      { "POST", "/api/v1/pricing/experiments", "route-pricing-experiments-create" },
      { "GET", "/api/v1/pricing/experiments/e1/results", "route-pricing-prefix-pricing" },
      { "POST", "/api/v1/proposals/generate", "route-proposal-generate" },
      { "POST", "/api/v1/proposals/p1/chat", "route-proposal-prefix-proposals" },
      { "GET", "/api/v1/prds/p1/graph", "route-prd-prefix-prds" },
      { "POST", "/api/v1/assistants", "route-orchestration-prefix-assistants" },
      { "POST", "/api/v1/threads/t1/runs", "route-orchestration-prefix-threads" },
      { "GET", "/api/v1/tools", "route-orchestration-prefix-tools" },
      { "GET", "/api/v1/workflows", "route-orchestration-prefix-workflows" },
      { "POST", "/api/v1/voice/webhooks/twilio", "route-voice-webhooks" },
      { "GET", "/api/v1/voice/media-stream", "route-voice-media-stream" },
      { "GET", "/api/v1/voice/calls/c1/transcript", "route-voice-prefix-voice" },
      { "GET", "/api/v1/configs/agent/behaviour/effective", "route-config-prefix-configs" },
      { "GET", "/api/v1/schemas", "route-config-prefix-schemas" },
      { "GET", "/api/v1/flags", "route-config-prefix-flags" },
      { "GET", "/api/v1/monitoring/alerts", "route-monitoring-prefix-monitoring" },
      { "GET", "/api/v1/analytics/funnel", "route-analytics-prefix-analytics" },
      { "POST", "/api/v1/support/inbound/email", "route-support-inbound-email" },
      { "POST", "/api/v1/support/tickets", "route-support-prefix-support" },
      { "POST", "/api/v1/crm/webhooks/hubspot", "route-crm-webhooks" },
      { "GET", "/api/v1/crm/accounts", "route-crm-prefix-crm" },
      { "POST", "/api/v1/catalog/manufacturers/m1/products:bulk", "route-manufacturer-catalog-products-bulk" },
      { "POST", "/api/v1/catalog/manufacturers/m1/products", "route-manufacturer-catalog-prefix-catalog" },
      { "POST", "/api/v1/tenants/webhooks/provider", "route-tenant-provisioning-webhooks" },
      { "POST", "/api/v1/tenants/t1/suspend", "route-tenant-provisioning-prefix-tenants" },
      { "GET", "/api/v1/feedback/summary", "route-feedback-prefix-feedback" },
      { "POST", "/api/v1/surveys", "route-feedback-prefix-surveys" },
      { "GET", "/healthz/live", nil },
      { "GET", "/metrics", nil },
      { "GET", "/api/v2/auth/login", nil },
    }

    for _, case in ipairs(cases) do
      local method, path, expected = case[1], case[2], case[3]
      it(method .. " " .. path .. " -> " .. tostring(expected), function()
        local r = route_for(method, path)
        assert.equal(expected, r and r.name or nil)
      end)
    end

    it("covers every route with at least one case", function()
      local covered = {}
      for _, case in ipairs(cases) do if case[3] then covered[case[3]] = true end end
      covered["route-human-agent-permissions-denied"] = true -- checked above for every method
      for _, r in ipairs(routes) do
        assert.is_true(covered[r.name] == true, r.name .. " has no routing case")
      end
    end)

    it("is never ambiguous, whatever ids and methods are used", function()
      -- Instantiate every regex path with plain ids and with every literal segment used anywhere,
      -- so that overlaps such as /api/v1/ndas/webhooks/remind are found.
      local words = { "0f8c2d1e-aaaa-bbbb-cccc-123456789abc", "x" }
      local seen = {}
      for _, r in ipairs(routes) do
        for _, p in ipairs(r.paths) do
          for w in p:gmatch("[%w_%-:]+") do
            if not seen[w] then seen[w] = true; words[#words + 1] = w end
          end
        end
      end
      local probes = 0
      for _, r in ipairs(routes) do
        for _, p in ipairs(r.paths) do
          if p:sub(1, 1) == "~" then
            local re = p:sub(2):gsub("%$$", ""):gsub("/%?", ""):gsub("\\%.", ".")
            local holes = select(2, re:gsub("%[%^/%][%+%*]", ""))
            for _, w in ipairs(words) do
              local path = re:gsub("%[%^/%][%+%*]", function() return w end)
              for _, m in ipairs(METHODS) do
                route_for(m, path) -- errors when ambiguous
                probes = probes + 1
              end
              if holes == 0 then break end
            end
          end
        end
      end
      assert.is_true(probes > 100)
    end)
  end)
end)
