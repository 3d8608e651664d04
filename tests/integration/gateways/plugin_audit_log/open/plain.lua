-- Fixture of plugin_audit_log.test.mjs: a gateway that names no interceptor; the test loads
-- audit-log with --interceptor (global), which also sees events that have no handler.
return {
  namespace = "/",
  events = {
    hello = function(socket) return "hi" end,
  },
}
