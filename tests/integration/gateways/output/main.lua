-- Fixture of output.test.mjs: bursts of events to the caller, so that several frames are queued
-- for one connection at once.
return {
  namespace = "/",

  events = {
    -- `n` small events "seq" 1..n, one big one (`big` bytes) in the middle when asked, then the
    -- ack; all queued during this one handler.
    burst = function(socket, data)
      local n = data.n
      for i = 1, n do
        socket:emit("seq", i)
        if data.big and i == math.floor(n / 2) then socket:emit("big", string.rep("x", data.big)) end
      end
      return n
    end,

    ping = function(socket, data)
      return data
    end,
  },
}
