-- Fixture of plugin_interceptors.test.mjs: lists only mark-b; mark-a must not run here.
return {
  namespace = "/b",
  interceptors = { "mark-b" },
  events = {
    trail = function(socket, s)
      return { event = "trail", data = s }
    end,
  },
}
