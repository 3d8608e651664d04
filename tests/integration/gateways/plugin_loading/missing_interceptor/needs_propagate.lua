-- Fixture of plugin_loading.test.mjs: lists an interceptor the tests do not load.
return {
  namespace = "/",
  interceptors = { "propagate" },
  events = { echo = function(socket, data) return data end },
}
