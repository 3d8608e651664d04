-- Fixture of the cluster tests (cluster*.test.mjs): each event triggers one kind of broadcast
-- or room change from Lua, on request of the test client, and acks what it did. With the Redis
-- bus every broadcast also reaches the other instances (and Node socket.io servers). The
-- cluster operations (fetch_sockets, sockets_join/leave, disconnect_sockets, server_emit) and
-- the server_events handlers answer the Node server's requests.

-- Server-side emits this instance received ("sb:note"), in order.
local received = {}

-- The operator of {in = {rooms}, except = {rooms or ids}}; nil for "every socket".
local function op_of(m)
  local op
  if m["in"] and #m["in"] > 0 then op = sb.to(m["in"]) end
  for _, r in ipairs(m.except or {}) do
    op = op and op:except(r) or sb.except(r)
  end
  return op
end

return {
  namespace = "/",

  -- Server-side emits from other servers (Node's io.serverSideEmit, another instance's
  -- sb.server_emit).
  server_events = {
    -- records its arguments
    ["sb:note"] = function(...)
      received[#received + 1] = sb.array({ ... })
    end,
    -- answers a sender that waits
    ["sb:ping"] = function(n)
      return "pong " .. tostring(n)
    end,
    -- answers with a table: this instance's number of local sockets of user:alice
    ["sb:count"] = function()
      return { alice = sb.room_size("user:alice") }
    end,
  },

  events = {
    -- {id, user} of the caller
    whoami = function(socket)
      return { id = socket.id, user = socket.user or sb.null }
    end,

    -- everyone in "/", on every instance (the seed's emit-to-all)
    all = function(socket, data)
      return sb.emit("news", data)
    end,

    -- every authenticated socket, on every instance (the seed's emit-to-authenticated)
    to_authenticated = function(socket, data)
      return sb.to_authenticated():emit("auth_news", data)
    end,

    -- {user =, event =, data =}: every socket of one user, on every instance
    to_user = function(socket, m)
      return sb.to_user(m.user):emit(m.event or "dm", m.data)
    end,

    -- {room =, except = {rooms or ids}, event =, data =}
    to_room = function(socket, m)
      local op = sb.to(m.room)
      for _, r in ipairs(m.except or {}) do op = op:except(r) end
      return op:emit(m.event or "room_msg", m.data)
    end,

    -- {n =, user = or room = (neither: everyone), event =, size =}: n broadcasts in a row,
    -- data {i=, pad=}
    burst = function(socket, m)
      local pad = string.rep("x", m.size or 0)
      local op = (m.user and sb.to_user(m.user)) or (m.room and sb.to(m.room)) or nil
      for i = 1, m.n do
        if op then op:emit(m.event or "burst", { i = i, pad = pad })
        else sb.emit(m.event or "burst", { i = i, pad = pad }) end
      end
      return m.n
    end,

    -- joins a room or a list of rooms; acks the socket's rooms
    join = function(socket, rooms)
      socket:join(rooms)
      return socket:rooms()
    end,

    -- leaves a room or a list of rooms; acks the socket's rooms
    leave = function(socket, rooms)
      if type(rooms) ~= "table" then rooms = { rooms } end
      for _, r in ipairs(rooms) do socket:leave(r) end
      return socket:rooms()
    end,

    -- joins then at once leaves every room of the list (subscribe and unsubscribe in one batch)
    join_leave = function(socket, rooms)
      socket:join(rooms)
      for _, r in ipairs(rooms) do socket:leave(r) end
      return socket:rooms()
    end,

    rooms = function(socket)
      return socket:rooms()
    end,

    -- the server-side emits "sb:note" received so far
    received = function(socket)
      return sb.array(received)
    end,

    -- {event =, args = {...}}: sb.server_emit without an ack
    server_emit = function(socket, m)
      sb.server_emit(m.event, unpack(m.args or {}))
      return true
    end,

    -- {event =, args = {...}}: sb.server_emit with a callback; the answers come back to the
    -- caller as the event "server_emit_result" {err =, responses =}
    server_emit_ack = function(socket, m)
      local args = m.args or {}
      args[#args + 1] = function(err, responses)
        socket:emit("server_emit_result", { err = err or sb.null, responses = responses or sb.null })
      end
      sb.server_emit(m.event, unpack(args))
      return true
    end,

    -- {in =, except =, timeout =}: op:fetch_sockets; the list comes back as the event
    -- "fetched" {err =, sockets =}
    fetch = function(socket, m)
      local op = op_of(m)
      local function done(err, list)
        socket:emit("fetched", { err = err or sb.null, sockets = sb.array(list or {}) })
      end
      if op then op:fetch_sockets(done, m.timeout) else sb.fetch_sockets(done, m.timeout) end
      return true
    end,

    -- {op = "join" | "leave" | "disconnect", in =, except =, rooms =, close =}
    sockets_op = function(socket, m)
      local op = op_of(m)
      if m.op == "join" then
        if op then op:sockets_join(m.rooms) else sb.sockets_join(m.rooms) end
      elseif m.op == "leave" then
        if op then op:sockets_leave(m.rooms) else sb.sockets_leave(m.rooms) end
      else
        if op then op:disconnect_sockets(m.close) else sb.disconnect_sockets(m.close) end
      end
      return true
    end,
  },
}
