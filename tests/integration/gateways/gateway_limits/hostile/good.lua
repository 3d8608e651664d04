-- Fixture of gateway_limits.test.mjs: a well-behaved gateway that uses what bad.lua tries to
-- break.
return {
  namespace = "/",

  events = {
    ping = function(socket, n) return n end,
    stdlib = function(socket)
      local t = { 3, 1, 2 }
      table.sort(t)
      local co = coroutine.wrap(function() coroutine.yield("yielded") end)
      sb.log.info("stdlib check")
      return {
        sorted = table.concat(t, ","),
        upper = ("abc"):upper(),
        upper2 = string.upper("def"),
        format = string.format("%d-%s", 7, "x"),
        floor = math.floor(2.5),
        co = co(),
        time = type(os.time()),
        emit = type(sb.emit),
        json = sb.json.encode({ 1 }),
        redis_call = type(redis.call),
      }
    end,
  },
}
