-- Fixture of lua_api.test.mjs: operations on every socket of a namespace (sb.fetch_sockets,
-- sb.sockets_join, sb.sockets_leave, sb.disconnect_sockets, sb.server_emit), without Redis: they
-- act on this server alone. A namespace of its own, so that only the test's sockets are in it.
return {
  namespace = "/all",

  events = {
    -- This namespace's CONNECT auth object, with the namespace to tell it from "/"'s.
    auth = function(socket)
      return socket.namespace, socket.auth
    end,
    -- Emits "fetched" with (err, sockets) from sb.fetch_sockets, or from
    -- sb.to(room):except(id):fetch_sockets when a room is given.
    fetch = function(socket, room, except)
      local function done(err, list)
        local out = {}
        for i, s in ipairs(list) do
          out[i] = { id = s.id, user = s.user or sb.null, rooms = s.rooms }
        end
        socket:emit("fetched", err or sb.null, sb.array(out))
      end
      if room then
        local op = sb.to(room)
        if except then op = op:except(except) end
        op:fetch_sockets(done)
      else
        sb.fetch_sockets(done)
      end
      return true
    end,
    join_all = function(socket, rooms)
      sb.sockets_join(rooms)
      return true
    end,
    leave_all = function(socket, rooms)
      sb.sockets_leave(rooms)
      return true
    end,
    disconnect_all = function(socket, close)
      sb.disconnect_sockets(close)
      return true
    end,
    in_room = function(socket, room)
      return socket:in_room(room)
    end,
    join = function(socket, room)
      socket:join(room)
      return true
    end,
    server_emit = function(socket, n)
      sb.server_emit("lua_api_ping", n, function(err, responses)
        socket:emit("server_emitted", err or sb.null, #responses)
      end)
      return true
    end,
  },
}
