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

    -- `n` events "chunk" {i = i, pad = …} whose pads cycle through 10, 30,000 and 120,000
    -- bytes (small frames joined, frames under 64 KiB joined with them, big ones alone),
    -- then the return value n; far more than the kernel buffers of one socket.
    flood = function(socket, data)
      local sizes = { 10, 30000, 1500000 }
      for i = 1, data.n do
        socket:emit("chunk", { i = i, pad = string.rep("x", sizes[(i - 1) % 3 + 1]) })
      end
      return data.n
    end,

    -- `n` broadcasts "tick" i to every socket of the namespace, all queued during this
    -- handler, so one flush writes every socket's share (sorted by socket, net/server.c).
    ticks = function(socket, data)
      for i = 1, data.n do
        sb.emit("tick", i)
      end
      return data.n
    end,

    ping = function(socket, data)
      return data
    end,
  },
}
