-- Fixture of plugin_acl.test.mjs: events of "/" behind the acl interceptor. Each handler acks,
-- so a test tells an allowed event (its ack) from a refused one (the `exception` event). acl
-- also guards the namespace's CONNECT and the joins this gateway's code makes.
return {
  namespace = "/",
  interceptors = { "acl" },
  events = {
    ping = function(socket) return "pong" end,
    ["chat.send"] = function(socket, data) return "sent" end,
    ["admin.reset"] = function(socket) return "reset" end,
    -- {room = "lobby"}, as scripts/chat.lua takes it: acl checks the room.
    join = function(socket, data)
      return type(data) == "table" and data.room or "no room"
    end,
    -- Real joins (ABI 1.4 before_join): the room is a plain string, so only the join is checked.
    ["room.enter"] = function(socket, room)
      socket:join(room) -- a refusal raises: uncaught, the client gets `exception`
      return true
    end,
    ["room.try"] = function(socket, room)
      local ok, err = pcall(socket.join, socket, room)
      return {
        ok = ok,
        message = not ok and (type(err) == "table" and err.message or tostring(err)) or nil,
        joined = socket:in_room(room),
      }
    end,
    ["room.many"] = function(socket, rooms)
      socket:join(rooms)
      return true
    end,
    ["room.list"] = function(socket) return socket:rooms() end,
    ["room.shout"] = function(socket, room, text)
      sb.to(room):emit("shout", room, text)
      return true
    end,
  },
}
