-- Fixture of logs.test.mjs: `whoami` acks the socket's user (false when anonymous).
return {
  namespace = "/",
  events = {
    whoami = function(socket)
      if socket.protocol ~= "json" then return socket.user or false end
      return { event = "whoami", data = socket.user or false }
    end,
  },
}
