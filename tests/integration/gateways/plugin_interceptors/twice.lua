-- Fixture of plugin_interceptors.test.mjs: lists mark-c twice, and the test also names it with
-- --interceptor: it must still run once per event.
return {
  namespace = "/twice",
  interceptors = { "mark-c", "mark-a", "mark-c" },
  events = {
    trail = function(socket, s)
      return { event = "trail", data = s }
    end,
  },
}
