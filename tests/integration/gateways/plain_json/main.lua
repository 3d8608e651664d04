-- Fixture of plain_json.test.mjs (WsAdapter format on every path but /socket.io/).
return {
  namespace = "/",

  events = {
    events = function(socket, data)
      return {
        { event = "events", data = 1 },
        { event = "events", data = 2 },
        { event = "events", data = 3 },
      }
    end,
    value = function(socket, data)
      return { got = data, answer = 42 }
    end,
    number = function(socket)
      return 7
    end,
    whoami = function(socket)
      return { event = "whoami", data = { user = socket.user or sb.null, protocol = socket.protocol,
                                          namespace = socket.namespace } }
    end,
  },
}
