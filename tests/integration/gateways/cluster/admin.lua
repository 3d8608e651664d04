-- Fixture of the cluster tests: the namespace "/admin", to check that cluster traffic stays in
-- its namespace.
local received = {}

return {
  namespace = "/admin",

  server_events = {
    ["sb:note"] = function(...)
      received[#received + 1] = sb.array({ ... })
    end,
  },

  events = {
    all = function(socket, data)
      return sb.emit("admin_news", data)
    end,

    join = function(socket, rooms)
      socket:join(rooms)
      return socket:rooms()
    end,

    rooms = function(socket)
      return socket:rooms()
    end,

    received = function(socket)
      return sb.array(received)
    end,
  },
}
