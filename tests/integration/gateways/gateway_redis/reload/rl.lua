-- Fixture of gateway_redis.test.mjs (copied to a temporary directory, where the test rewrites
-- the next line): handlers that wait for Redis across a reload of their file.
local VERSION = 1

return {
  namespace = "/",

  events = {
    v = function(socket)
      return VERSION
    end,
    slow = function(socket)
      local pong = redis.call("PING")
      return { v = VERSION, pong = pong }
    end,
    spin_after_wait = function(socket)
      redis.call("PING")
      while true do end
    end,
    timer_after_wait = function(socket)
      redis.call("PING")
      sb.every(30, function() socket:emit("tick", VERSION) end)
      return VERSION
    end,
  },
}
