-- Fixture of gateway_timers.test.mjs: a timer started by a gateway of another namespace.
return {
  namespace = "/other",

  events = {
    broadcast = function(socket)
      sb.after(10, function() sb.emit("from_timer", "/other") end)
      return true
    end,
  },
}
