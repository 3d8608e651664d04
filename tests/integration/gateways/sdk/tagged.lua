-- Fixture of sdk.test.mjs: uses the interceptor of examples/plugin-template (the plugin named
-- "tag"); each handler acks with what it received, so the test sees what the interceptor did.
return {
  namespace = "/",
  interceptors = { "tag" },
  events = {
    echo = function(socket, data) return data end,
    echo_all = function(socket, ...) return ... end,
  },
}
