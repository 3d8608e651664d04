-- Fixture of token_refresh.test.mjs: who the server thinks a socket is (socket.user, and
-- socket.claims, which a refreshed token replaces), a broadcast to check that a refreshed
-- socket still receives events, and the reasons sockets left with (on_disconnect).
local gone = {}

return {
  namespace = "/",

  on_disconnect = function(socket, reason)
    gone[#gone + 1] = { user = socket.user or sb.null, namespace = "/", reason = reason }
  end,

  events = {
    whoami = function(socket)
      return { user = socket.user or sb.null, claims = socket.claims }
    end,
    shout = function(socket, data)
      sb.emit("shout", data)
      return true
    end,
    gone = function()
      return gone
    end,
  },
}
