-- Fixture of plugin_loading.test.mjs: names as interceptor a loaded plugin that has no hooks.
return {
  namespace = "/",
  interceptors = { "old-minor" },
  events = { echo = function(socket, data) return data end },
}
