-- Fixture of plugin_interceptors.test.mjs: lists no interceptor; only a global one runs here.
return {
  namespace = "/plain",
  events = {
    trail = function(socket, s)
      return { event = "trail", data = s }
    end,
  },
}
