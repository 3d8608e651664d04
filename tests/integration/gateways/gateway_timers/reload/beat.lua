-- Fixture of gateway_timers.test.mjs (copied to a temporary directory, where the test rewrites
-- the next line): a timer started while the file loads, and one started by a handler.
local VERSION = 1

sb.every(40, function() sb.emit("beat", VERSION) end)

return {
  namespace = "/beat",

  events = {
    v = function(socket)
      return VERSION
    end,
    start = function(socket)
      sb.every(40, function() socket:emit("tick", VERSION) end)
      return VERSION
    end,
  },
}
