-- Fixture of limits.test.mjs.
--   echo  x            -> ack x (also answers the plain JSON protocol with an `echo` event)
--   size  "…"          -> ack the length of the string (a big message arrived whole)
--   flood {n=N, size=S} -> N broadcasts `blob` of an S-byte string to everyone in "/", then
--                          ack N (the ack leaves after the broadcasts on the caller's queue)
--   big   n            -> ack a string of n bytes (at most 8 MiB): one reply over --max-queue
local MAX_N = 5000
local MAX_SIZE = 65536
local MAX_BIG = 8 * 1024 * 1024

return {
  namespace = "/",
  events = {
    echo = function(socket, data)
      if socket.protocol ~= "json" then return data end
      return { event = "echo", data = data }
    end,
    size = function(socket, data)
      local n = type(data) == "string" and #data or -1
      if socket.protocol ~= "json" then return n end
      return { event = "size", data = n }
    end,
    big = function(socket, n)
      return string.rep("x", math.min(tonumber(n) or 0, MAX_BIG))
    end,
    flood = function(socket, data)
      local n = math.min(tonumber(data and data.n) or 1, MAX_N)
      local size = math.min(tonumber(data and data.size) or 1024, MAX_SIZE)
      local blob = string.rep("x", size)
      for i = 1, n do
        sb.emit("blob", blob)
      end
      return n
    end,
  },
}
