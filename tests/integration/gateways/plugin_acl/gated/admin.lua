-- Fixture of plugin_acl.test.mjs: the namespace "/admin" behind the acl interceptor.
return {
  namespace = "/admin",
  interceptors = { "acl" },
  events = {
    status = function(socket) return "up" end,
  },
}
