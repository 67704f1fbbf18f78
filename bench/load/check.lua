-- wrk script: POST /api/v1/limits/check with a bearer token, over 100,000 keys.
-- The token comes from the environment (FLOWGATE_TOKEN).
--
-- Each thread formats its 100,000 requests once, in init, and then only hands them out: on a
-- 2-core machine the load generator shares the CPU with the server, and formatting a request
-- in Lua for every call cost wrk about as much CPU as the server spends on a decision.
local token = os.getenv("FLOWGATE_TOKEN")
local KEYS = 100000
local counter = 0

function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end

function init(args)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }
  requests = {}
  for n = 1, KEYS do
    local body = string.format('{"key":"user-%d","endpoint":"media","platform":"mastodon"}', (n * 7919) % KEYS)
    requests[n] = wrk.format("POST", "/api/v1/limits/check", headers, body)
  end
  i = offset or 0
end

function request()
  i = i % KEYS + 1
  return requests[i]
end
