-- Fixture of shutdown.test.mjs.
--   echo  x              -> ack x (socket.io) / `echo` x (plain JSON)
--   burst {n=N, size=S}  -> N `item` events to the caller right away (they sit in its queue):
--                           the number i, or {i=i, pad=<S bytes>} when S > 0; then ack N
local MAX_N = 20000
local MAX_SIZE = 65536

return {
  namespace = "/",
  events = {
    echo = function(socket, data)
      if socket.protocol ~= "json" then return data end
      return { event = "echo", data = data }
    end,
    burst = function(socket, data)
      local n = math.min(tonumber(data and data.n) or 1, MAX_N)
      local size = math.min(tonumber(data and data.size) or 0, MAX_SIZE)
      local pad = size > 0 and string.rep("p", size) or nil
      for i = 1, n do
        if pad then socket:emit("item", { i = i, pad = pad }) else socket:emit("item", i) end
      end
      if socket.protocol ~= "json" then return n end
      return { event = "burst", data = n }
    end,
  },
}
