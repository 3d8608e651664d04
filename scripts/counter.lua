-- Counts events per user in Redis: every instance of a cluster counts into the same keys.
--
--   count  {name = "clicks"}  -> ack the new count of this user's "clicks"
--   counts                    -> ack {clicks = 3, …}: every count of this user
--
-- Needs --redis (without it the events answer an `exception` saying so) and an authenticated
-- socket (anonymous sockets have no user to count for).

local MAX_NAME = 64

local function key(socket)
  if not socket.user then sb.throw("sign in first: counts are per user") end
  return "counter:" .. socket.user
end

local function call(...)
  local value, err = redis.pcall(...)
  if err then sb.throw("counter unavailable: " .. err) end
  return value
end

return {
  namespace = "/",

  events = {
    count = function(socket, data)
      local name = type(data) == "table" and data.name or "events"
      if type(name) ~= "string" or #name == 0 or #name > MAX_NAME then
        sb.throw("name must be a string of 1 to " .. MAX_NAME .. " characters")
      end
      return call("HINCRBY", key(socket), name, 1)
    end,

    counts = function(socket)
      local flat = call("HGETALL", key(socket))
      local out = {}
      for i = 1, #flat, 2 do out[flat[i]] = tonumber(flat[i + 1]) end
      return out
    end,
  },
}
