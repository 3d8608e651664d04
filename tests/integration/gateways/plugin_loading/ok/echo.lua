-- Fixture of plugin_loading.test.mjs: a valid gateway with no interceptor.
return { namespace = "/", events = { echo = function(socket, data) return data end } }
