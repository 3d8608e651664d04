-- Fixture of plugin_rate_limit.test.mjs: a gateway that names no interceptor; the test loads
-- rate-limit with --interceptor (global), which also counts events that have no handler.
return {
  namespace = "/",
  events = {
    a = function(socket, n)
      return { event = "ok", data = { event = "a", n = n or sb.null } }
    end,
  },
}
