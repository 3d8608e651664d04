-- Fixture of api_emit.test.mjs: `join` puts the caller in the rooms of the list and acks its
-- rooms, so a test can aim POST /api/emit at rooms; `id` acks the socket id (for "except").
return {
  namespace = "/",
  events = {
    join = function(socket, rooms)
      socket:join(rooms)
      return socket:rooms()
    end,
    id = function(socket)
      return socket.id
    end,
  },
}
