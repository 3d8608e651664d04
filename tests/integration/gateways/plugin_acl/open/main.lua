-- Fixture of plugin_acl.test.mjs: a gateway that names no interceptor; the test loads acl with
-- --interceptor (global), which also sees events that have no handler.
return {
  namespace = "/",
  events = {
    hello = function(socket) return "hi" end,
  },
}
