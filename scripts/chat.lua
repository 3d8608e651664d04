-- A chat gateway: rooms with presence (who is online) and history (the last 50 messages).
--
--   join     {room = "lobby"}              -> ack {room, members}; the joiner gets `history`
--                                             {room, messages}; the room gets `presence`
--                                             {room, online} and `joined` {room, user}
--   leave    {room = "lobby"}              -> ack true; the room gets `left` and `presence`
--   message  {room = "lobby", text = "hi"} -> `message` {room, from, text, at} to the room
--   members  {room = "lobby"}              -> ack {room, members} (who is online)
--
-- With --redis, presence and history live in Redis, so every instance of the cluster sees the
-- same (a room's history expires a day after its last message); without it they live in this
-- process, and a room's presence and history go when its last member leaves.
--
-- Bounds, so that clients cannot grow the gateways' memory without end: a socket is in at most
-- MAX_JOINED rooms, this process keeps at most MAX_ROOMS rooms (without Redis), a room keeps
-- its last HISTORY messages of at most MAX_TEXT bytes each.

local MAX_ROOM = 64
local MAX_TEXT = 2000
local HISTORY = 50
local MAX_JOINED = 100
local MAX_ROOMS = 1000
local HISTORY_TTL = 86400

-- ---- storage: Redis when the server has it, this process otherwise ----

local have_redis -- decided on first use: is the server started with --redis?
local local_history, local_online = {}, {}
local local_rooms = 0 -- rooms in local_online

-- With --redis every instance must use Redis, or their rooms would drift apart: a Redis error
-- (not connected yet, a timeout) then fails the event rather than falling back to this process.
local function redis_on()
  if have_redis == nil then
    local _, err = redis.pcall("PING")
    have_redis = not (err and err:find("not configured", 1, true))
  end
  return have_redis
end

-- Presence counts sockets per user, so a user with two tabs stays online until both leave.
local function presence_add(room, name, delta)
  if redis_on() then
    local n = redis.call("HINCRBY", "chat:online:" .. room, name, delta)
    if n <= 0 then redis.call("HDEL", "chat:online:" .. room, name) end
    return
  end
  local online = local_online[room]
  if not online then
    if delta <= 0 then return end
    if local_rooms >= MAX_ROOMS then
      sb.throw("too many chat rooms on this server (" .. MAX_ROOMS .. ")")
    end
    online = {}
    local_online[room] = online
    local_rooms = local_rooms + 1
  end
  online[name] = (online[name] or 0) + delta
  if online[name] <= 0 then online[name] = nil end
  -- The last member left: nothing of the room stays behind.
  if next(online) == nil then
    local_online[room], local_history[room] = nil, nil
    local_rooms = local_rooms - 1
  end
end

local function online(room)
  local names = {}
  if redis_on() then
    names = redis.call("HKEYS", "chat:online:" .. room)
  else
    for name in pairs(local_online[room] or {}) do names[#names + 1] = name end
  end
  table.sort(names)
  return sb.array(names)
end

local function history_add(room, entry)
  if redis_on() then
    local key = "chat:history:" .. room
    redis.call("RPUSH", key, sb.json.encode(entry))
    redis.call("LTRIM", key, -HISTORY, -1)
    redis.call("EXPIRE", key, HISTORY_TTL)
    return
  end
  local h = local_history[room] or {}
  local_history[room] = h
  h[#h + 1] = entry
  if #h > HISTORY then table.remove(h, 1) end
end

local function history(room)
  if not redis_on() then return sb.array(local_history[room] or {}) end
  local out = {}
  for i, text in ipairs(redis.call("LRANGE", "chat:history:" .. room, 0, -1)) do
    out[i] = sb.json.decode(text)
  end
  return sb.array(out)
end

-- ---- the gateway ----

local function room_of(data)
  local room = type(data) == "table" and data.room or nil
  if type(room) ~= "string" or #room == 0 or #room > MAX_ROOM then
    sb.throw("room must be a string of 1 to " .. MAX_ROOM .. " characters")
  end
  return room
end

local function name_of(socket)
  return socket.user or ("guest-" .. socket.id:sub(1, 6))
end

-- Keep chat rooms apart from the server's own rooms (user:<id>, authenticated).
local function channel(room) return "chat:" .. room end

local function announce(room)
  sb.to(channel(room)):emit("presence", { room = room, online = online(room) })
end

local function leave(socket, room, name)
  socket.data.rooms[room] = nil
  presence_add(room, name, -1)
  sb.to(channel(room)):emit("left", { room = room, user = name })
  announce(room)
end

return {
  namespace = "/",

  on_connect = function(socket)
    socket.data.rooms = {}
  end,

  -- A socket that goes away leaves its rooms (the socket is gone by the time Redis answers,
  -- so everything needed is read first).
  on_disconnect = function(socket)
    local name, rooms = name_of(socket), socket.data.rooms or {}
    for room in pairs(rooms) do leave(socket, room, name) end
  end,

  events = {
    join = function(socket, data)
      local room = room_of(data)
      if socket.data.rooms[room] then
        return { room = room, members = online(room) }
      end
      local joined = 0
      for _ in pairs(socket.data.rooms) do joined = joined + 1 end
      if joined >= MAX_JOINED then
        sb.throw("you are in " .. MAX_JOINED .. " rooms already: leave one first")
      end
      local name = name_of(socket)
      presence_add(room, name, 1)
      socket:join(channel(room))
      socket.data.rooms[room] = true
      socket:emit("history", { room = room, messages = history(room) })
      socket:to(channel(room)):emit("joined", { room = room, user = name })
      announce(room)
      return { room = room, members = online(room) }
    end,

    leave = function(socket, data)
      local room = room_of(data)
      if socket.data.rooms[room] then
        socket:leave(channel(room))
        leave(socket, room, name_of(socket))
      end
      return true
    end,

    message = function(socket, data)
      local room = room_of(data)
      local text = data.text
      if type(text) ~= "string" or #text == 0 or #text > MAX_TEXT then
        sb.throw("text must be a string of 1 to " .. MAX_TEXT .. " characters")
      end
      if not socket.data.rooms[room] then
        sb.throw("join the room first")
      end
      local entry = { room = room, from = name_of(socket), text = text, at = os.time() }
      history_add(room, entry)
      sb.to(channel(room)):emit("message", entry)
      return true
    end,

    members = function(socket, data)
      local room = room_of(data)
      return { room = room, members = online(room) }
    end,
  },
}
