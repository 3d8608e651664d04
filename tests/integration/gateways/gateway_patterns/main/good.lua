-- Fixture of gateway_patterns.test.mjs: a well-behaved gateway that keeps serving while
-- patterns.lua's handlers backtrack.
return {
  namespace = "/",
  events = {
    ping = function(socket, n) return n end,
  },
}
