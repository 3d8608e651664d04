-- Fixture of logs.test.mjs: `whoami` acks the socket's user (false when anonymous); `boom`
-- fails, for the log line of a handler's error.
return {
  namespace = "/",
  events = {
    whoami = function(socket)
      if socket.protocol ~= "json" then return socket.user or false end
      return { event = "whoami", data = socket.user or false }
    end,
    boom = function(socket)
      error("kaboom in a handler")
    end,
  },
}
