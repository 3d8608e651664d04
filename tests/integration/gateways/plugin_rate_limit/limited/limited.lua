-- Fixture of plugin_rate_limit.test.mjs: a gateway behind the rate-limit interceptor. Each event
-- answers with the reply "ok" {event = <name>, n = <data>}, so a test counts what got through.
local function ok(name)
  return function(socket, n)
    return { event = "ok", data = { event = name, n = n or sb.null } }
  end
end

return {
  namespace = "/",
  interceptors = { "rate-limit" },
  events = { a = ok("a"), b = ok("b") },
}
