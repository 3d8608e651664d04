-- Fixture of plugin_acl.test.mjs: "/free" lists no interceptor, so acl (not global on that
-- server) guards neither its CONNECT nor its joins, although no namespace rule allows it.
return {
  namespace = "/free",
  events = {
    ["room.enter"] = function(socket, room)
      socket:join(room)
      return socket:in_room(room)
    end,
  },
}
