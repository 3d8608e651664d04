-- The seed's EventsGateway: on `events` it answers `events` 1, 2 and 3. With the `propagate`
-- interceptor each reply also reaches the user's other sockets (other tabs, other instances),
-- never twice the socket that asked, and never for anonymous sockets.
return {
  namespace = "/",
  interceptors = { "propagate" },

  events = {
    events = function(socket, data)
      return {
        { event = "events", data = 1 },
        { event = "events", data = 2 },
        { event = "events", data = 3 },
      }
    end,
  },
}
