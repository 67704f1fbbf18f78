-- wrk script: POST /api/v1/limits/check with a bearer token, over 100,000 keys.
-- The token comes from the environment (FLOWGATE_TOKEN).
local token = os.getenv("FLOWGATE_TOKEN")
local counter = 0

function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end

function init(args)
  i = offset or 0
end

function request()
  i = i + 1
  local body = string.format('{"key":"user-%d","endpoint":"media","platform":"mastodon"}', (i * 7919) % 100000)
  return wrk.format("POST", "/api/v1/limits/check", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
