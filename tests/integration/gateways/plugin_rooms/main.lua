-- Fixture of plugin_rooms.test.mjs: what a socket's rooms are after the joiner plugin's
-- socket_join() / socket_leave(), and a broadcast to one of them.
return {
  namespace = "/",

  events = {
    rooms = function(socket)
      return sb.array(socket:rooms())
    end,
    to_room = function(socket, room)
      sb.to(room):emit("in_room", room)
      return true
    end,
  },
}
