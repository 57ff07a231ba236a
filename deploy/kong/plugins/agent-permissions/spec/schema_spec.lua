-- Tests of the agent-permissions configuration schema, with Kong's typedefs stubbed.

local src = debug.getinfo(1, "S").source:sub(2)
local PLUGIN_DIR = src:match("^(.*)/spec/[^/]+$") or (src:match("^spec/") and ".")
assert(PLUGIN_DIR, "cannot locate the plugin directory from " .. src)
-- deploy/?.lua resolves Kong's module names (kong.plugins.agent-permissions.*)
package.path = PLUGIN_DIR .. "/../../../?.lua;" .. package.path

describe("agent-permissions schema", function()
  local schema, config_fields

  setup(function()
    package.loaded["kong.db.schema.typedefs"] = {
      no_consumer = { type = "foreign", reference = "consumers", eq = "<null>" },
      protocols_http = { type = "set", elements = { type = "string" },
                         default = { "grpc", "grpcs", "http", "https" } },
    }
    package.loaded["kong.plugins.agent-permissions.schema"] = nil
    schema = require "kong.plugins.agent-permissions.schema"
    config_fields = {}
    for _, entry in ipairs(schema.fields) do
      local name, def = next(entry)
      if name == "config" then
        for _, f in ipairs(def.fields) do
          local fname, fdef = next(f)
          config_fields[fname] = fdef
        end
      end
    end
  end)

  teardown(function()
    package.loaded["kong.db.schema.typedefs"] = nil
  end)

  it("is named like the plugin directory and cannot be scoped to a consumer", function()
    assert.equal("agent-permissions", schema.name)
    local top = {}
    for _, entry in ipairs(schema.fields) do
      local name, def = next(entry)
      top[name] = def
    end
    assert.equal("<null>", top.consumer.eq)
    assert.is_table(top.protocols)
    assert.equal("record", top.config.type)
  end)

  it("has exactly the documented fields", function()
    local names = {}
    for name in pairs(config_fields) do names[#names + 1] = name end
    table.sort(names)
    assert.same({ "bypass_roles", "cache_ttl", "edge_key", "permissions_url", "required_permission",
                  "service_token", "subject_header", "timeout_ms" }, names)
  end)

  it("has the documented defaults", function()
    assert.equal("http://human-agent:8080/api/v1/agents/{agent_id}/permissions",
                 config_fields.permissions_url.default)
    assert.equal(5, config_fields.cache_ttl.default)
    assert.equal(2000, config_fields.timeout_ms.default)
    assert.same({ "platform_admin" }, config_fields.bypass_roles.default)
    assert.is_nil(config_fields.required_permission.default)
    assert.is_nil(config_fields.subject_header.default)
  end)

  it("lets the service token come from a vault reference", function()
    assert.is_true(config_fields.service_token.referenceable)
    assert.is_true(config_fields.service_token.required)
    assert.is_true(config_fields.edge_key.referenceable)
    assert.is_true(config_fields.edge_key.required)
  end)

  it("uses only field attributes every Kong 3.x metaschema knows", function()
    local known = { type = true, required = true, default = true, custom_validator = true,
                    referenceable = true, elements = true, gt = true, between = true }
    for name, def in pairs(config_fields) do
      for attr in pairs(def) do
        assert(known[attr], "field " .. name .. " uses attribute " .. attr)
      end
    end
  end)

  describe("permissions_url validator", function()
    local v
    setup(function() v = config_fields.permissions_url.custom_validator end)

    it("accepts the default and https URLs", function()
      assert.is_true(v(config_fields.permissions_url.default))
      assert.is_true(v("https://human-agent.fleet.svc:8443/api/v1/agents/{agent_id}/permissions"))
    end)

    it("refuses templates without exactly one placeholder or without a scheme", function()
      assert.is_nil((v("http://human-agent:8080/api/v1/agents/permissions")))
      assert.is_nil((v("http://human-agent:8080/{agent_id}/{agent_id}")))
      assert.is_nil((v("human-agent:8080/api/v1/agents/{agent_id}/permissions")))
      assert.is_nil((v("ftp://human-agent/{agent_id}")))
    end)
  end)

  describe("required_permission validator", function()
    local v
    setup(function() v = config_fields.required_permission.custom_validator end)

    it("accepts service.action", function()
      assert.is_true(v("assisted_signup.create"))
    end)

    it("refuses anything else", function()
      for _, bad in ipairs({ "assisted_signup", "a.b.c", "a. b", ".b", "a." }) do
        local ok, err = v(bad)
        assert.is_nil(ok, bad)
        assert.is_string(err)
      end
    end)
  end)

  describe("subject_header validator", function()
    local v
    setup(function() v = config_fields.subject_header.custom_validator end)

    it("accepts a header name", function()
      assert.is_true(v("X-Fleet-Subject"))
    end)

    it("refuses X-Agent-* names and non-token characters", function()
      assert.is_nil((v("X-Agent-Subject")))
      assert.is_nil((v("x-agent-id")))
      assert.is_nil((v("X Fleet")))
      assert.is_nil((v("X-Fleet:")))
    end)
  end)
end)
