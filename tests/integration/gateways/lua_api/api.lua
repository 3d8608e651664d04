-- Fixture of lua_api.test.mjs: the socket object and the sb module seen from a handler.
return {
  namespace = "/",

  events = {
    headers = function(socket)
      return socket.headers
    end,
    count = function(socket)
      socket.data.count = (socket.data.count or 0) + 1
      return socket.data.count
    end,
    query = function(socket)
      return socket.query
    end,
    protocol = function(socket)
      return { event = "protocol", data = socket.protocol }
    end,
    identity = function(socket)
      return { id = socket.id, user = socket.user or sb.null, namespace = socket.namespace,
               connected = socket.connected, protocol = socket.protocol }
    end,
    rooms = function(socket)
      return socket:rooms()
    end,
    join = function(socket, room)
      socket:join(room)
      return sb.room_size(room)
    end,
    leave = function(socket, room)
      socket:leave(room)
      return sb.room_size(room)
    end,
    room_size = function(socket, room)
      return sb.room_size(room)
    end,
    json = function(socket, value)
      local text = sb.json.encode(value)
      local back = sb.json.decode(text)
      return { text = text, back = back, again = sb.json.encode(back) }
    end,
    json_bad = function(socket, text)
      local v, err = sb.json.decode(text)
      return { value = v or sb.null, err = err or sb.null }
    end,
    several = function(socket)
      return sb.emit("x", 1, "a", { b = true })
    end,
    sum = function(socket, ...)
      local total = 0
      for i = 1, select("#", ...) do total = total + select(i, ...) end
      return total
    end,
    nargs = function(socket, ...)
      return select("#", ...)
    end,
    kick = function(socket)
      socket:disconnect()
      return "too late"
    end,
    readonly = function(socket)
      socket.user = "mallory"
    end,
  },
}
