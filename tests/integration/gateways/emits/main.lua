-- Fixture of emits.test.mjs: each event triggers one kind of broadcast from Lua, then acks
-- the number of local sockets it reached (what sb's emit returns).
return {
  namespace = "/",

  events = {
    -- everyone in "/"
    all = function(socket, data)
      return sb.emit("news", data)
    end,

    -- every authenticated socket in "/"
    to_authenticated = function(socket, data)
      return sb.to_authenticated():emit("auth_news", data)
    end,

    -- the caller's user's other sockets (the seed's send-to-user-except-origin)
    to_my_other_sockets = function(socket, data)
      if not socket.user then sb.throw("anonymous") end
      return sb.to_user(socket.user):except(socket.id):emit("mine", data)
    end,

    -- join the rooms of the list
    join = function(socket, rooms)
      socket:join(rooms)
      return socket:rooms()
    end,

    -- {to = {rooms}, except = {rooms or ids}, tag = any}
    rooms = function(socket, data)
      local op = sb.to(data.to)
      for _, r in ipairs(data.except or {}) do op = op:except(r) end
      return op:emit("room_msg", data.tag)
    end,

    -- everyone but the rooms (or socket ids) of the list
    all_except = function(socket, rooms)
      return sb.except(rooms):emit("news", "all but")
    end,

    -- everyone but the caller
    broadcast = function(socket, data)
      return socket:broadcast():emit("bcast", data)
    end,

    -- a room but not the caller
    to_room_but_me = function(socket, room)
      return socket:to(room):emit("bcast", room)
    end,

    -- everyone in "/other"
    other = function(socket, data)
      return sb.of("/other"):emit("other_news", data)
    end,
  },
}
