-- Fixture of gateway_timers.test.mjs: sb.after, sb.every, t:cancel(), t:active().
return {
  namespace = "/",

  events = {
    -- A one-shot timer; its handle is kept in socket.data for `active` and `cancel`.
    after = function(socket, ms, tag)
      local t = sb.after(ms, function() socket:emit("fired", tag) end)
      socket.data.t = t
      return t:active()
    end,
    active = function(socket)
      return socket.data.t:active()
    end,
    cancel = function(socket)
      return socket.data.t:cancel()
    end,

    -- A repeating timer that cancels itself after `n` ticks.
    every = function(socket, ms, n)
      local i, t = 0, nil
      t = sb.every(ms, function()
        i = i + 1
        socket:emit("tick", i)
        if i == n then socket:emit("stopped", t:cancel(), t:active(), t:cancel()) end
      end)
      socket.data.t = t
      return t:active()
    end,

    -- Cancelled before it fires.
    cancel_before = function(socket, ms)
      local t = sb.after(ms, function() socket:emit("fired", "cancelled timer") end)
      return { t:active(), t:cancel(), t:active(), t:cancel() }
    end,

    -- The handle is dropped, and enough garbage made for the collector to run.
    dropped = function(socket, ms)
      sb.after(ms, function() socket:emit("fired", "dropped handle") end)
      local junk
      for i = 1, 200000 do junk = { i, tostring(i) } end
      return true
    end,

    -- A one-shot timer's function starts the next one.
    chain = function(socket, n)
      local i = 0
      local function step()
        i = i + 1
        socket:emit("link", i)
        if i < n then sb.after(5, step) end
      end
      sb.after(5, step)
      return true
    end,

    bad_args = function(socket)
      local out = {}
      for _, f in ipairs({
        function() return sb.every(5, function() end) end,
        function() return sb.every(8 * 86400000, function() end) end,
        function() return sb.after(-1, function() end) end,
        function() return sb.after(10, "not a function") end,
        function() return sb.after("soon", function() end) end,
      }) do
        local ok, err = pcall(f)
        out[#out + 1] = ok and "accepted" or tostring(err)
      end
      return out
    end,

    -- A timer's function waits for Redis, then emits.
    redis_timer = function(socket, key)
      sb.after(10, function()
        local a = redis.call("INCR", key)
        local b = redis.call("INCR", key)
        socket:emit("timer_redis", a, b)
        sb.to(socket.id):emit("timer_redis_room", b)
      end)
      return true
    end,

    -- A timer's broadcast goes to the namespace of the gateway that started it.
    broadcast = function(socket)
      sb.after(10, function() sb.emit("from_timer", "/") end)
      return true
    end,

    -- A timer whose function fails, then one that keeps working.
    failing = function(socket)
      sb.after(0, function() error("timer boom") end)
      sb.after(20, function() socket:emit("fired", "after the failure") end)
      return true
    end,

    -- Creates up to `n` timers, stops at the first refusal.
    many = function(socket, n)
      local list, err = {}, nil
      for i = 1, n do
        local ok, t = pcall(sb.every, 60000, function() end)
        if not ok then
          err = tostring(t)
          break
        end
        list[#list + 1] = t
      end
      socket.data.many = list
      return { created = #list, err = err or sb.null }
    end,
    -- Cancels the timers of `many`, oldest first (or newest first).
    cancel_many = function(socket, newest_first)
      local list, n = socket.data.many or {}, 0
      local from, to, step = 1, #list, 1
      if newest_first then from, to, step = #list, 1, -1 end
      for i = from, to, step do
        if list[i]:cancel() then n = n + 1 end
      end
      socket.data.many = nil
      return n
    end,
    -- `n` one-shot timers of `ms`, handles dropped.
    many_after = function(socket, n, ms)
      for i = 1, n do sb.after(ms, function() end) end
      return n
    end,
    ping = function(socket, n)
      return n
    end,
  },
}
