-- Fixture of lua_api.test.mjs: the socket object and the sb module seen from a handler.

-- At load time: this line is the test's proof that print() works while a file loads, and that
-- its log line is tagged with this gateway.
print("lua_api fixture loaded, version", sb.version)

local helper = require("lua_api_helper") -- lib/lua_api_helper.lua

-- Socket objects kept past their disconnect, by socket id.
local kept = {}

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
    auth = function(socket)
      return socket.auth
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
    tostring = function(socket)
      return tostring(socket)
    end,

    -- Logging: log(level, ...) writes ... at that level.
    log = function(socket, level, ...)
      sb.log[level](...)
      return true
    end,
    print = function(socket, ...)
      print(...)
      return true
    end,
    sb_print = function(socket, ...)
      sb.print(...)
      return true
    end,
    aliases = function(socket)
      return { print = print == sb.print, json_null = sb.json.null == sb.null,
               redis = sb.redis == redis, version = type(sb.version) }
    end,
    version = function(socket)
      return sb.version
    end,

    in_room = function(socket, room)
      return socket:in_room(room)
    end,
    -- The sockets of a room (in this namespace, or in `nsp`).
    sockets = function(socket, room, nsp)
      return sb.array(sb.sockets(room, nsp))
    end,
    room_size_in = function(socket, room, nsp)
      return sb.room_size(room, nsp)
    end,
    -- sb["in"](a), and op["in"](b) when b is given.
    emit_in = function(socket, a, b, tag)
      local op = sb["in"](a)
      if b then op = op["in"](op, b) end
      return op:emit("in_msg", tag)
    end,

    modules = function(socket)
      local ok, missing = pcall(require, "lua_api_missing")
      return {
        switchboard = require("switchboard") == sb,
        sb = require("sb") == sb,
        same = require("lua_api_helper") == helper,
        greeting = helper.greet(socket.id),
        missing_ok = ok,
        missing = missing,
      }
    end,

    -- A socket object kept after its disconnect.
    keep = function(socket)
      socket.data.note = "kept"
      kept[socket.id] = socket
      return true
    end,
    kept = function(socket, id)
      local k = kept[id]
      local joined, join_err = pcall(k.join, k, "after")
      return {
        connected = k.connected, emitted = k:emit("late", 1), in_room = k:in_room(id),
        rooms = sb.array(k:rooms()), joined = joined, join_err = join_err, id = k.id,
        note = k.data.note,
      }
    end,
  },
}
