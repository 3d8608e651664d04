-- A chat gateway: join and leave rooms, message a room, list who is in it.
--
--   join     {room = "lobby"}               -> ack {room, members}; "joined" to the room
--   leave    {room = "lobby"}               -> ack true; "left" to the room
--   message  {room = "lobby", text = "hi"}  -> "message" {room, from, text, at} to the room
--   members  {room = "lobby"}               -> ack {room, members}

local MAX_ROOM = 64
local MAX_TEXT = 2000

local function room_of(data)
  local room = type(data) == "table" and data.room or nil
  if type(room) ~= "string" or #room == 0 or #room > MAX_ROOM then
    sb.throw("room must be a string of 1 to " .. MAX_ROOM .. " characters")
  end
  -- Keep chat rooms apart from the server's own rooms (user:<id>, authenticated).
  return "chat:" .. room
end

local function name_of(socket)
  return socket.user or ("guest-" .. socket.id:sub(1, 6))
end

local function members(room)
  local list = {}
  for _, s in ipairs(sb.sockets(room)) do
    list[#list + 1] = s.user or ("guest-" .. s.id:sub(1, 6))
  end
  table.sort(list)
  return sb.array(list)
end

return {
  namespace = "/",

  events = {
    join = function(socket, data)
      local room = room_of(data)
      socket:join(room)
      socket:to(room):emit("joined", { room = data.room, user = name_of(socket) })
      return { room = data.room, members = members(room) }
    end,

    leave = function(socket, data)
      local room = room_of(data)
      if socket:in_room(room) then
        socket:leave(room)
        sb.to(room):emit("left", { room = data.room, user = name_of(socket) })
      end
      return true
    end,

    message = function(socket, data)
      local room = room_of(data)
      local text = data.text
      if type(text) ~= "string" or #text == 0 or #text > MAX_TEXT then
        sb.throw("text must be a string of 1 to " .. MAX_TEXT .. " characters")
      end
      if not socket:in_room(room) then
        sb.throw("join the room first")
      end
      sb.to(room):emit("message", {
        room = data.room, from = name_of(socket), text = text, at = os.time(),
      })
      return true
    end,

    members = function(socket, data)
      local room = room_of(data)
      return { room = data.room, members = members(room) }
    end,
  },
}
