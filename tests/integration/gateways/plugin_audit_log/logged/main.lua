-- Fixture of plugin_audit_log.test.mjs: a gateway behind the audit-log interceptor.
return {
  namespace = "/",
  interceptors = { "audit-log" },
  events = {
    -- one reply
    echo = function(socket, data)
      return { event = "echoed", data = data }
    end,
    -- two replies
    multi = function(socket, n)
      return { { event = "first", data = n }, { event = "second", data = n } }
    end,
    -- an ack, no reply
    other = function(socket) return "done" end,
  },
}
