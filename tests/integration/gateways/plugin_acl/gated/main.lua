-- Fixture of plugin_acl.test.mjs: events of "/" behind the acl interceptor. Each handler acks,
-- so a test tells an allowed event (its ack) from a refused one (the `exception` event).
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
  },
}
